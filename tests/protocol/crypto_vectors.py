"""Reading CoverDrop's crypto vectors (three independent generations) and spoiling bytes."""

from pathlib import Path

GENERATIONS = ("common", "android", "ios")


def vector_files(root: Path, generation: str, primitive: str) -> dict[str, bytes]:
    """Every file of one primitive's folder, by name, as raw bytes."""
    folder = root / "crypto" / generation / primitive
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def flip(data: bytes, index: int) -> bytes:
    """``data`` with the lowest bit of byte ``index`` flipped."""
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)
