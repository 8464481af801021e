// The tenant's white label (`tenant { brand }`) on the page: name, colours, logo.
// Colours are checked to be CSS hex before use. A logo is shown only when it is served by
// this origin (or a data: image): the page's Content-Security-Policy loads nothing from
// elsewhere, so an external logo URL gets a monogram in the brand colour instead.

const HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const DEFAULTS = { primaryColor: "#0B5FFF", secondaryColor: "#0A1F44" };

/** "#0B5FFF" -> "#ffffff" or "#111111": whichever reads better on it. */
export function textOn(hex) {
  const full = hex.length === 4 ? `#${[...hex.slice(1)].map((c) => c + c).join("")}` : hex;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(full.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.4 ? "#111111" : "#ffffff";
}

function sameOrigin(url) {
  if (!url) return false;
  if (url.startsWith("data:image/")) return true;
  try {
    return new URL(url, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

export function applyBrand(brand, tenantName) {
  const root = document.documentElement.style;
  const primary = HEX.test(brand.primaryColor || "") ? brand.primaryColor : DEFAULTS.primaryColor;
  const secondary = HEX.test(brand.secondaryColor || "") ? brand.secondaryColor : DEFAULTS.secondaryColor;
  root.setProperty("--brand-primary", primary);
  root.setProperty("--brand-secondary", secondary);
  root.setProperty("--brand-on-primary", textOn(primary));
  root.setProperty("--brand-on-secondary", textOn(secondary));
  const name = brand.displayName || tenantName || "Risk dashboard";
  document.getElementById("brand-name").textContent = name;
  document.title = `${name} · risk dashboard`;
  const logo = document.getElementById("brand-logo");
  const monogram = document.getElementById("brand-monogram");
  const initials = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
  monogram.textContent = initials || "R";
  monogram.title = brand.logoUrl ? `logo: ${brand.logoUrl} (not loaded: another origin)` : "";
  if (sameOrigin(brand.logoUrl)) {
    logo.src = brand.logoUrl;
    logo.alt = name;
    logo.hidden = false;
    monogram.hidden = true;
  } else {
    logo.hidden = true;
    logo.removeAttribute("src");
    monogram.hidden = false;
  }
  document.body.dataset.brand = name;
}

export function resetBrand() {
  const root = document.documentElement.style;
  for (const name of ["--brand-primary", "--brand-secondary", "--brand-on-primary", "--brand-on-secondary"]) {
    root.removeProperty(name);
  }
  document.getElementById("brand-name").textContent = "Risk dashboard";
  document.getElementById("tenant-name").textContent = "Perpetual futures risk";
  document.getElementById("brand-logo").hidden = true;
  document.getElementById("brand-monogram").hidden = false;
  document.getElementById("brand-monogram").textContent = "R";
  document.title = "Risk dashboard";
  delete document.body.dataset.brand;
}
