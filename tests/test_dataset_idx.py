"""The strict IDX reader (every malformation refused with a message naming the file, expected and found)
and the checks on dataset specs."""

import gzip
import struct
from dataclasses import replace

import numpy as np
import pytest

from dataset.idx import check_labels, check_pair, encode_idx, gunzip, parse_idx, read_idx


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}i", *dims)


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 28, 28)])
def test_encode_then_parse_round_trips(shape):
    a = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_idx(a)
    assert len(data) == 4 + 4 * len(shape) + a.size
    b = parse_idx(data, shape=shape)
    assert b.dtype == np.uint8 and b.shape == shape
    np.testing.assert_array_equal(a, b)


GOOD = _header(0x08, (2, 3)) + bytes(range(6))


@pytest.mark.parametrize(
    "data, fragments",
    [
        (b"\x00\x00\x08", ["truncated IDX header", "at least 4 bytes", "found 3"]),
        (b"\x01\x00" + GOOD[2:], ["magic bytes 00 00", "found 01 00"]),
        (gzip.compress(GOOD), ["found 1f 8b", "gzip-compressed"]),
        (_header(0x0D, (2, 3)) + bytes(24), ["type code 0x08", "found 0x0d (float32)"]),
        (bytes([0, 0, 8, 0]), ["at least 1 dimension", "found 0"]),
        (GOOD[:9], ["truncated IDX header", "expected 12 bytes for 2 dimensions", "found 9"]),
        (GOOD[:-2], ["truncated IDX body", "expected 18 bytes for shape (2, 3)", "found 16", "2 missing"]),
        (GOOD + b"\x00", ["1 trailing bytes", "expected 18 bytes", "found 19"]),
        (_header(0x08, (2, -3)), ["non-negative sizes", "(2, -3)"]),
    ],
    ids=[
        "short-header",
        "magic",
        "gzip",
        "type-code",
        "no-dims",
        "cut-header",
        "cut-body",
        "trailing",
        "negative",
    ],
)
def test_parse_rejects_malformed_data(data, fragments):
    with pytest.raises(ValueError) as err:
        parse_idx(data, name="train-labels-idx1-ubyte")
    message = str(err.value)
    assert message.startswith("train-labels-idx1-ubyte: ")
    for fragment in fragments:
        assert fragment in message


def test_parse_rejects_a_shape_other_than_expected():
    with pytest.raises(ValueError, match=r"f: expected shape \(3, 2\), found \(2, 3\)"):
        parse_idx(GOOD, name="f", shape=(3, 2))
    assert parse_idx(GOOD, name="f", shape=(2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_read_idx_reads_gzip_and_raw_and_names_the_path(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(encode_idx(a)))
    (tmp_path / "a").write_bytes(encode_idx(a))
    for name in ("a.gz", "a"):
        b = read_idx(tmp_path / name, shape=(2, 3, 4))
        np.testing.assert_array_equal(a, b)
        b[0, 0, 0] = 99  # writable, and a copy of the file's bytes
    (tmp_path / "bad.gz").write_bytes(gzip.compress(encode_idx(a))[:-12])
    with pytest.raises(ValueError, match=r"bad\.gz: corrupt or truncated gzip data"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "big.gz").write_bytes(gzip.compress(encode_idx(a) + b"\x00"))
    with pytest.raises(ValueError, match=r"big\.gz: 1 trailing bytes"):
        read_idx(tmp_path / "big.gz", shape=(2, 3, 4))


def test_gunzip_stops_reading_past_the_limit():
    bomb = gzip.compress(bytes(10_000_000))
    assert len(gunzip(bomb, name="x", limit=1000)) == 1001  # one byte over tells the caller it is too long


def test_encode_idx_refuses_other_dtypes_and_scalars():
    with pytest.raises(TypeError, match="expected dtype uint8, got float64"):
        encode_idx(np.zeros(3))
    with pytest.raises(ValueError, match=r"expected 1 to 255 dimensions, got shape \(\)"):
        encode_idx(np.uint8(3))


def test_labels_of_ten_or_more_are_refused_with_their_index():
    check_labels(np.array([0, 9, 3], dtype=np.uint8), name="t", num_classes=10)
    with pytest.raises(
        ValueError, match=r"train-labels-idx1-ubyte: expected labels in \[0, 10\), got 10 at index 2"
    ):
        check_labels(np.array([0, 9, 10, 12], dtype=np.uint8), name="train-labels-idx1-ubyte")


def test_image_and_label_counts_must_match():
    check_pair(np.zeros((3, 2, 2)), np.zeros(3), x_name="x", t_name="t")
    with pytest.raises(
        ValueError, match="train-images-idx3-ubyte has 3 images but train-labels-idx1-ubyte has 2"
    ):
        check_pair(
            np.zeros((3, 2, 2)),
            np.zeros(2),
            x_name="train-images-idx3-ubyte",
            t_name="train-labels-idx1-ubyte",
        )


def test_specs_refuse_names_that_could_leave_the_cache_folder(make_small_set):
    small = make_small_set()
    with pytest.raises(
        ValueError, match=r"name: expected a plain folder name such as 'mnist', got '\.\./up'"
    ):
        small.spec(name="../up")
    with pytest.raises(ValueError, match=r"filename: expected a plain file name, got 'a/b'"):
        replace(small.files[0], filename="a/b")
    with pytest.raises(ValueError, match="sha256: expected 64 lowercase hex digits"):
        replace(small.files[0], sha256="ABC")
    with pytest.raises(ValueError, match=r"shape: expected 3 positive sizes for x_train, got \(30, 784\)"):
        replace(small.files[0], shape=(30, 784))
