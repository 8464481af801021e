"""Direct sends of the fan-out (graph/streams/fanout.py): frames, live members, falling back."""

from __future__ import annotations

from graph.streams.fanout import Member, next_frame, raw_writer, text_frame


class Socket:
    """A raw writer that accepts frames until told to refuse them."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.accepting = True

    def __call__(self, frame: bytes) -> bool:
        if self.accepting:
            self.frames.append(frame)
        return self.accepting


def _live(socket: Socket, sequence: int = 5) -> Member:
    member = Member(id_json='"1"', sequenced=True, direct=socket)
    member.sequence, member.live = sequence, True
    return member


def test_text_frames_carry_their_length_in_the_three_encodings() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    assert text_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame("x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")


def test_a_live_member_gets_the_frame_written_and_skips_what_its_snapshot_holds() -> None:
    socket = Socket()
    frames: dict[str, bytes] = {}
    member = _live(socket)
    member.deliver(4, 5, '{"data":1}', frames)  # already in the snapshot
    member.deliver(6, 7, '{"data":2}', frames)
    assert socket.frames == [text_frame(next_frame('"1"', '{"data":2}'))]
    assert member.sequence == 7 and member.live and not member.queue
    assert frames == {'"1"': socket.frames[0]}  # built once per event and operation id


def test_a_gap_or_a_refused_write_hands_the_event_to_the_members_queue() -> None:
    socket = Socket()
    member = _live(socket)
    member.deliver(8, 8, "{}", {})  # 6 and 7 are missing: the task resynchronises
    assert not member.live and list(member.queue) == [(8, 8, "{}")] and not socket.frames
    member = _live(socket)
    socket.accepting = False  # a consumer that does not read
    member.deliver(6, 6, "{}", {})
    assert not member.live and list(member.queue) == [(6, 6, "{}")]
    assert member.wakeup.is_set()


def test_a_member_that_is_not_live_queues_and_ending_stops_direct_sends() -> None:
    socket = Socket()
    member = Member(id_json='"1"', sequenced=True, direct=socket)
    member.deliver(1, 1, "{}", {})
    assert list(member.queue) == [(1, 1, "{}")] and not socket.frames
    member = _live(socket)
    member.need_snapshot("RESYNC")
    assert not member.live
    member = _live(socket)
    member.end("")
    assert not member.live


async def test_only_hypercorn_websockets_get_a_raw_writer() -> None:
    async def send(message: object) -> None:
        return None

    async def wrapped(message: object) -> None:
        await send(message)

    assert raw_writer(send) is None
    assert raw_writer(wrapped) is None
    assert raw_writer(None) is None
