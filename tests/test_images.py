"""core.data.uploads: untrusted bytes → model input, with generated images of every kind the decoder must handle."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import samples
from core.data.uploads import MAX_PIXELS, ImageError, load_image, load_images, quantise, to_png, to_uint8


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def digit(size: int = 200, light_bg: bool = True, off: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A thick '1'-like bar with a foot, dark on light (like ink on paper) unless ``light_bg`` is False."""
    a = np.zeros((size, size), np.uint8)
    c = size // 2
    a[size // 5 + off[0] : 4 * size // 5 + off[0], c - size // 12 + off[1] : c + size // 12 + off[1]] = 255
    a[4 * size // 5 - size // 12 + off[0] : 4 * size // 5 + off[0], c - size // 5 + off[1] : c + size // 5 + off[1]] = (
        255
    )
    return 255 - a if light_bg else a


def check(x: torch.Tensor, dataset: str) -> None:
    shape = (1, 1, 28, 28) if dataset == "mnist" else (1, 3, 32, 32)
    assert tuple(x.shape) == shape and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


# ---------------------------------------------------------------- good inputs, each format


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "GIF"])
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_format_decodes(fmt: str, dataset: str) -> None:
    x, notes = load_image(encode(Image.fromarray(digit()).convert("RGB"), fmt), dataset)
    check(x, dataset)
    assert notes[0].startswith(f"decoded {fmt}")


def test_mnist_inverts_light_background_and_centres_by_mass() -> None:
    x, notes = load_image(encode(Image.fromarray(digit(300, off=(-80, 70)))), "mnist")
    check(x, "mnist")
    assert any("inverted" in n for n in notes)
    img = x[0, 0].numpy()
    assert img[0].max() < 0.05 and img[:, 0].max() < 0.05  # black border after inversion
    rows, cols = np.flatnonzero(img.max(1) > 0.1), np.flatnonzero(img.max(0) > 0.1)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fits the 20x20 box (+1 for Lanczos ringing)
    ys, xs = np.indices(img.shape)
    cy, cx = (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0  # centre of mass at the centre, despite the offset


def test_mnist_dark_background_is_not_inverted() -> None:
    x, notes = load_image(encode(Image.fromarray(digit(100, light_bg=False))), "mnist")
    assert not any("inverted" in n for n in notes)
    assert float(x[0, 0, 0].max()) < 0.05


def test_28x28_png_round_trips_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    x = (samples("mnist")[0][:1] + 0.05 * torch.randn(1, 1, 28, 28, generator=g)).clamp(
        0, 1
    )  # an adversarial-like digit
    y, notes = load_image(to_png(x), "mnist")
    assert torch.equal(y, quantise(x))
    assert any("used as is" in n for n in notes)
    c = torch.rand(1, 3, 32, 32, generator=g)
    assert torch.equal(load_image(to_png(c), "cifar10")[0], quantise(c))


def test_cifar_non_square_is_centre_cropped_and_resized() -> None:
    a = np.zeros((60, 120, 3), np.uint8)
    a[:, 30:90] = (255, 0, 0)  # red only in the centre square
    x, notes = load_image(encode(Image.fromarray(a)), "cifar10")
    check(x, "cifar10")
    assert any("centre-cropped 120x60 to 60x60" in n for n in notes)
    assert float(x[0, 0].mean()) > 0.95 and float(x[0, 1:].max()) < 0.05


def test_grey_for_cifar_is_replicated() -> None:
    x, notes = load_image(encode(Image.new("L", (32, 32), 128)), "cifar10")
    assert torch.allclose(x[0, 0], x[0, 2]) and any("replicated" in n for n in notes)


# ---------------------------------------------------------------- modes


def test_16bit_greyscale_is_scaled() -> None:
    a = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    im = Image.fromarray(a)
    assert im.mode.startswith("I;16")
    x, notes = load_image(encode(im), "cifar10")
    check(x, "cifar10")
    assert any("16-bit" in n or "32-bit" in n for n in notes)
    assert float(x.max()) > 0.9 and float(x.min()) < 0.1  # the full range, not clipped to white


def test_cmyk_jpeg_converts() -> None:
    im = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # red in CMYK
    x, notes = load_image(encode(im, "JPEG"), "cifar10")
    check(x, "cifar10")
    assert any("CMYK" in n for n in notes)
    assert float(x[0, 0].mean()) > 0.8 and float(x[0, 1].mean()) < 0.2


def test_palette_with_and_without_transparency() -> None:
    p = Image.fromarray(digit(64)).convert("P")
    x, notes = load_image(encode(p), "mnist")
    check(x, "mnist")
    assert any("palette" in n for n in notes)
    pt = Image.fromarray(digit(64)).convert("P")
    pt.info["transparency"] = 0
    x2, notes2 = load_image(encode(pt, transparency=0), "mnist")
    check(x2, "mnist")
    assert any("transparency" in n for n in notes2)


def test_rgba_white_stroke_on_transparent_survives() -> None:
    a = np.zeros((200, 200, 4), np.uint8)
    a[40:160, 90:110] = (255, 255, 255, 255)  # white stroke, the rest fully transparent
    x, notes = load_image(encode(Image.fromarray(a, "RGBA")), "mnist")
    check(x, "mnist")
    assert any("onto black" in n for n in notes)
    assert float(x.max()) > 0.9 and float(x[0, 0, 0].max()) < 0.05  # light digit on black


def test_la_dark_stroke_on_transparent_is_inverted() -> None:
    a = np.zeros((100, 100, 2), np.uint8)
    a[20:80, 45:55] = (0, 255)  # black ink, opaque; transparent elsewhere
    x, notes = load_image(encode(Image.fromarray(a, "LA")), "mnist")
    assert any("onto white" in n for n in notes) and any("inverted" in n for n in notes)
    assert float(x.max()) > 0.9


def test_opaque_rgba_just_drops_alpha() -> None:
    a = np.full((32, 32, 4), 255, np.uint8)
    a[..., :3] = 100
    x, notes = load_image(encode(Image.fromarray(a, "RGBA")), "cifar10")
    assert any("opaque" in n for n in notes)
    assert torch.allclose(x, torch.full_like(x, 100 / 255))


def test_bilevel_and_float_modes() -> None:
    x, notes = load_image(encode(Image.fromarray(digit(60) > 128).convert("1"), "BMP"), "mnist")
    check(x, "mnist")
    f = Image.fromarray(np.full((32, 32), 0.5, np.float32), "F")
    buf = io.BytesIO()
    f.save(buf, format="TIFF")
    with pytest.raises(ImageError, match="TIFF images are not accepted"):
        load_image(buf.getvalue(), "cifar10")


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("L", (32, 32), v) for v in (10, 200, 90)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    x, notes = load_image(buf.getvalue(), "cifar10")
    assert any("3 frames" in n and "first frame" in n for n in notes)
    assert abs(float(x.mean()) - 10 / 255) < 0.02


def test_animated_webp_uses_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), (v, v, v)) for v in (240, 20)]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True)
    x, notes = load_image(buf.getvalue(), "cifar10")
    assert any("2 frames" in n for n in notes) and float(x.mean()) > 0.85


def test_exif_orientation_is_applied() -> None:
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    x, notes = load_image(encode(im, "JPEG", exif=exif.tobytes(), quality=95), "cifar10")
    assert any("EXIF" in n for n in notes)
    assert float(x[0, :, :8].mean()) > 0.8 and float(x[0, :, -8:].mean()) < 0.2  # white went to the top


# ---------------------------------------------------------------- bad inputs


def test_empty_and_non_images_are_refused() -> None:
    with pytest.raises(ImageError, match="empty"):
        load_image(b"", "mnist")
    with pytest.raises(ImageError, match="not a recognised image"):
        load_image(b"%PDF-1.4 definitely not a picture" * 10, "mnist")
    with pytest.raises(ImageError, match="not a recognised image"):
        load_image(np.random.default_rng(0).bytes(5000), "cifar10")
    with pytest.raises(ImageError):
        load_image("a string", "mnist")  # type: ignore[arg-type]
    assert issubclass(ImageError, ValueError)


def test_truncated_files_are_refused() -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for fmt in ("PNG", "JPEG"):
        data = encode(noisy, fmt)
        with pytest.raises(ImageError, match="truncated or corrupt"):
            load_image(data[: len(data) // 2], "cifar10")


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h greyscale pixels, with a tiny (bomb-like) zlib stream."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("w,h", [(10_000, 10_000), (20_000, 20_000), (100_000, 1_000), (50_000, 50_000)])
def test_huge_images_are_refused_before_decoding(w: int, h: int) -> None:
    assert w * h >= MAX_PIXELS
    with pytest.raises(ImageError, match="refused"):
        load_image(png_header_only(w, h), "mnist")


def test_just_under_the_limit_is_not_refused_for_size() -> None:
    with pytest.raises(ImageError) as e:  # passes the size gate, then fails as truncated (the IDAT is tiny)
        load_image(png_header_only(9_999, 9_999), "mnist")
    assert "refused" not in str(e.value) and "truncated" in str(e.value)


def test_oversized_file_is_refused() -> None:
    with pytest.raises(ImageError, match="limit is 10 MB"):
        load_image(b"\x89PNG" + b"\x00" * (10 * 1024 * 1024 + 1), "mnist")


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load_image(encode(Image.new("L", (8, 8))), "svhn")


def test_load_images_keeps_going_past_bad_files() -> None:
    out = load_images([("a.png", encode(Image.new("L", (28, 28)))), ("b.txt", b"hello"), ("c.png", b"")], "mnist")
    assert [o["error"] is None for o in out] == [True, False, False]
    assert out[0]["x"].shape == (1, 1, 28, 28) and "recognised" in out[1]["error"]


def test_blank_image_is_accepted_with_a_note() -> None:
    x, notes = load_image(encode(Image.new("L", (50, 50), 0)), "mnist")
    assert float(x.max()) == 0.0 and any("blank" in n for n in notes)


# ---------------------------------------------------------------- output helpers


def test_to_uint8_and_png_shapes() -> None:
    assert to_uint8(torch.zeros(1, 1, 28, 28)).shape == (28, 28)
    assert to_uint8(torch.ones(3, 32, 32)).shape == (32, 32, 3)
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(2, 1, 28, 28))
    im = Image.open(io.BytesIO(to_png(torch.rand(3, 32, 32))))
    assert im.format == "PNG" and im.mode == "RGB" and im.size == (32, 32)
