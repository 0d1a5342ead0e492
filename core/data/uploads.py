"""Untrusted image bytes → a model-ready tensor, and tensors → lossless PNG.

``load_image(data, dataset)`` is the only door through which uploaded files
reach the models (the dashboard's scan page and attack lab both use it).  It
decodes with Pillow under explicit limits and returns a float32 tensor
``[1, C, H, W]`` in ``[0, 1]`` plus human-readable notes on every step it took.

Rules (each one leaves a note, or raises :class:`ImageError`, a ``ValueError``):

* **Rejected:** empty input; input larger than ``MAX_BYTES``; anything Pillow
  cannot identify or that is not one of ``ALLOWED_FORMATS``; images of
  ``MAX_PIXELS`` (10,000 x 10,000) pixels or more, checked from the header
  before any pixel is decoded (decompression bombs, including Pillow's own
  ``DecompressionBombError``); truncated or corrupt pixel data.
* **Animated** GIF/PNG/WebP: the first frame is used (noted with the frame count).
* **EXIF orientation** is applied (phone photos).
* **Modes:** 16/32-bit integer greyscale (``I;16*``, ``I``) is scaled by
  1/65535 (clipped); float greyscale (``F``) is taken as already in ``[0, 1]``
  when its maximum is at most 1, else as ``[0, 255]``; bilevel ``1``, ``CMYK``,
  ``YCbCr``, ``LAB``, ``HSV`` convert to RGB/L with Pillow's standard
  conversions; palette ``P`` expands to RGB(A); images with alpha (``RGBA``,
  ``LA``, ``PA``, palette transparency) are composited onto a solid
  background: white, unless the visible content is mostly light, then black
  (so a white stroke on a transparent canvas survives).
* **MNIST** (1x28x28): ITU-R 601-2 luma; inverted when the border is light
  (MNIST digits are light on black); then, like the MNIST preprocessing, the
  foreground's bounding box is scaled so its longer side is 20 px and placed in
  a 28x28 field with its centre of mass at the centre.  An image that is
  already 28x28 is used as is (apart from inversion) so a PNG downloaded from
  the attack lab round-trips exactly.
* **CIFAR-10** (3x32x32): RGB; a non-square image is centre-cropped to a
  square, then resized to 32x32 (Lanczos).  32x32 images are used as is.
"""
from __future__ import annotations

import io
import warnings
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from core.data.datasets import SHAPES
from core.io.paths import check_dataset

MAX_BYTES = 10 * 1024 * 1024  # same as the dashboard's server.maxUploadSize (10 MB)
MAX_PIXELS = 10_000 * 10_000  # images with this many pixels or more are refused
ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "bmp", "webp", "gif")  # for file pickers
MNIST_BOX = 20  # MNIST: the digit's bounding box is scaled into 20x20 ...
MNIST_FIELD = 28  # ... and centred by centre of mass in 28x28


class ImageError(ValueError):
    """An uploaded file that cannot be used as an image; the message says why, for the user."""


def _open(data: bytes):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) == 0:
        raise ImageError("the file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above this and refuses above twice this
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=None)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"refused: the image is too large to decode safely ({e})") from None
    except UnidentifiedImageError:
        raise ImageError(
            "not a recognised image: upload a PNG, JPEG, BMP, WebP or GIF file"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:  # broken headers
        raise ImageError(f"the image header is corrupt ({e})") from None
    if im.format not in ALLOWED_FORMATS:
        raise ImageError(f"{im.format} images are not accepted: upload a PNG, JPEG, BMP, WebP or GIF file")
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageError(f"the image has no pixels ({w}x{h})")
    if w * h >= MAX_PIXELS:
        raise ImageError(
            f"refused: {w}x{h} pixels is {w * h / 1e6:.0f} megapixels; images must be under "
            f"{MAX_PIXELS / 1e6:.0f} megapixels (10,000 x 10,000)"
        )
    return im


def _decode(data: bytes, target: tuple[int, int]) -> tuple[Image.Image, list[str]]:
    """Open, check, take the first frame, apply EXIF orientation and load the pixels."""
    im = _open(data)
    notes = [f"decoded {im.format} {im.size[0]}x{im.size[1]}, mode {im.mode}"]
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"animated image with {frames} frames: used the first frame")
    if im.format == "JPEG" and (im.size[0] > 4 * target[0] or im.size[1] > 4 * target[1]):
        im.draft(im.mode if im.mode in ("L", "RGB") else "RGB", (4 * target[0], 4 * target[1]))  # fast JPEG downscale
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            oriented = ImageOps.exif_transpose(im)
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        raise ImageError(f"the image data is truncated or corrupt ({e})") from None
    if im.getexif().get(0x0112, 1) not in (None, 1):
        notes.append("rotated/flipped upright from its EXIF orientation")
    return oriented, notes


def _composite(im, notes: list[str]):
    """Flatten alpha onto white, or onto black when the visible content is mostly light."""
    rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3:4]
    if alpha.min() >= 1.0:
        notes.append(f"{im.mode}: fully opaque alpha channel dropped")
        return Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8), "RGB")
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    visible = alpha[..., 0] > 0.5
    light = bool(visible.any() and luma[visible].mean() > 0.5)
    bg = 0.0 if light else 1.0
    out = rgba[..., :3] * alpha + bg * (1.0 - alpha)
    notes.append(f"{im.mode}: transparency flattened onto {'black (content is light)' if light else 'white'}")
    return Image.fromarray((out * 255).round().astype(np.uint8), "RGB")


def _to_standard_mode(im, notes: list[str]):
    """Any Pillow mode → ``L``/``RGB`` 8-bit image, or a float ``[0,1]`` array for high-depth greyscale."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im, dtype=np.float64)
        notes.append(f"{mode}: {'16' if mode.startswith('I;16') else '32'}-bit greyscale scaled by 1/65535 to [0, 1]")
        return np.clip(arr / 65535.0, 0.0, 1.0).astype(np.float32)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        scale = 1.0 if np.nanmax(arr) <= 1.0 else 255.0
        notes.append(f"F: float greyscale taken as [0, {scale:g}]")
        return np.clip(np.nan_to_num(arr / scale), 0.0, 1.0).astype(np.float32)
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append(f"P: palette expanded to {im.mode}")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _composite(im, notes)
    if mode in ("L", "RGB"):
        return im
    if mode == "1":
        notes.append("1: bilevel image converted to greyscale")
        return im.convert("L")
    notes.append(f"{mode}: converted to RGB")
    return im.convert("RGB")


def _as_float(img_or_arr, channels: int) -> np.ndarray:
    """``[H, W, channels]`` float32 in [0, 1]."""

    if isinstance(img_or_arr, np.ndarray):  # high-depth greyscale
        arr = img_or_arr[..., None]
        return np.repeat(arr, 3, axis=2) if channels == 3 else arr
    im: Image.Image = img_or_arr
    im = im.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr[..., None] if channels == 1 else arr


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a ``[H, W, C]`` float array to ``size`` = (width, height) with Lanczos, per channel in float."""
    chans = [
        np.asarray(Image.fromarray(arr[..., c], "F").resize(size, Image.Resampling.LANCZOS))
        for c in range(arr.shape[2])
    ]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32)


def _mnist_layout(grey: np.ndarray, notes: list[str]) -> np.ndarray:
    """``[H, W]`` light-on-dark float → 28x28 MNIST layout (20x20 box, centre of mass at the centre)."""
    if grey.shape == (MNIST_FIELD, MNIST_FIELD):
        notes.append("already 28x28: used as is (no re-centring)")
        return grey
    mask = grey > max(0.1, 0.25 * float(grey.max()))
    if not mask.any():
        notes.append("no foreground found (blank image): resized to 28x28 without centring")
        return _resize(grey[..., None], (MNIST_FIELD, MNIST_FIELD))[..., 0]
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    s = MNIST_BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    box = _resize(crop[..., None], (nw, nh))[..., 0]
    total = float(box.sum())
    ys, xs = np.indices(box.shape)
    cy, cx = (
        (float((ys * box).sum() / total), float((xs * box).sum() / total))
        if total > 0
        else ((nh - 1) / 2, (nw - 1) / 2)
    )
    centre = (MNIST_FIELD - 1) / 2
    top = int(np.clip(round(centre - cy), 0, MNIST_FIELD - nh))
    left = int(np.clip(round(centre - cx), 0, MNIST_FIELD - nw))
    field = np.zeros((MNIST_FIELD, MNIST_FIELD), dtype=np.float32)
    field[top : top + nh, left : left + nw] = box
    notes.append(
        f"foreground box {w}x{h} px scaled to {nw}x{nh} and placed in 28x28 with its centre of mass at the centre"
    )
    return field


def load_image(data: bytes, dataset: str) -> tuple[torch.Tensor, list[str]]:
    """Decode untrusted image bytes into the dataset's input: float32 ``[1, C, H, W]`` in [0, 1], plus notes.

    Raises :class:`ImageError` (a ``ValueError``) with a message fit for the user on any bad input.
    """
    check_dataset(dataset)
    c, h, w = SHAPES[dataset]
    im, notes = _decode(data, (w, h))
    std = _to_standard_mode(im, notes)
    if dataset == "mnist":
        grey = _as_float(std, 1)[..., 0]
        if not isinstance(std, np.ndarray) and std.mode != "L":
            notes.append("converted to greyscale (ITU-R 601-2 luma)")
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        if float(np.median(border)) > 0.5:
            grey = 1.0 - grey
            notes.append("light background: inverted (MNIST digits are light on black)")
        out = _mnist_layout(grey, notes)[None]
    else:  # CIFAR-10 and labs: centre-crop to the aspect ratio, resize; a grey lab keeps one channel
        rgb = _as_float(std, 3)
        if c == 3 and (isinstance(std, np.ndarray) or std.mode == "L"):
            notes.append("greyscale replicated to 3 RGB channels")
        ih, iw = rgb.shape[:2]
        if (ih, iw) != (h, w):
            if ih != iw:
                side = min(ih, iw)
                t, left = (ih - side) // 2, (iw - side) // 2
                rgb = rgb[t : t + side, left : left + side]
                notes.append(f"centre-cropped {iw}x{ih} to {side}x{side}")
            rgb = _resize(rgb, (w, h))
            notes.append(f"resized to {w}x{h} (Lanczos)")
        else:
            notes.append(f"already {w}x{h}: used as is")
        out = rgb.transpose(2, 0, 1)
        if c == 1:
            out = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2])[None]  # ITU-R 601-2 luma, as PIL's "L"
            notes.append("converted to greyscale (ITU-R 601-2 luma)")
    x = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))[None]
    return x.clamp_(0.0, 1.0), notes


def load_images(files: Sequence[tuple[str, bytes]], dataset: str) -> list[dict]:
    """Many uploads at once: ``[{name, x or None, notes, error or None}]``; one bad file never stops the rest."""
    out = []
    for name, data in files:
        try:
            x, notes = load_image(data, dataset)
            out.append({"name": name, "x": x, "notes": notes, "error": None})
        except ImageError as e:
            out.append({"name": name, "x": None, "notes": [], "error": str(e)})
    return out


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """One image ``[C, H, W]`` or ``[1, C, H, W]`` in [0, 1] → ``[H, W]`` (grey) or ``[H, W, 3]`` uint8."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {arr.shape[0]}")
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ValueError(f"expected [C, H, W] with C in (1, 3), got {list(arr.shape)}")
    u8 = np.clip(np.round(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return u8[0] if u8.shape[0] == 1 else u8.transpose(1, 2, 0)


def to_png(x: torch.Tensor | np.ndarray) -> bytes:
    """Lossless 8-bit PNG of one image (greyscale for 1 channel, RGB for 3).

    PNG itself is lossless; the only change is rounding to the nearest of 256 levels,
    so ``load_image(to_png(x), dataset)`` returns ``round(x * 255) / 255`` exactly.
    """
    u8 = to_uint8(x)
    buf = io.BytesIO()
    Image.fromarray(u8, "L" if u8.ndim == 2 else "RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def quantise(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to 8 bits, as it will be after a PNG round trip."""
    return torch.round(x.clamp(0, 1) * 255.0) / 255.0
