"""Who may do what: authn, access, query limits, rate limits, audit; no other graph room."""
