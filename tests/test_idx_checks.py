"""The IDX reader's and writer's checks, byte by byte (mutants the round-trip tests of
test_datasets.py left alive; see tests/MUTANTS.md)."""
import numpy as np
import pytest

from fastnn.datasets.idx import DataError, read_idx, read_labels, write_idx


@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                         (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
def test_every_idx_type_code(tmp_path, dtype, code):
    a = (np.arange(6) - (0 if dtype == np.uint8 else 3)).astype(dtype).reshape(2, 3)
    path = tmp_path / "a.idx"
    write_idx(path, a)
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, code, 2]) and raw[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    back = read_idx(path)
    assert back.dtype == dtype and np.array_equal(back, a)


def test_dimensions_of_2_to_the_32_are_refused(tmp_path):
    huge = np.broadcast_to(np.uint8(0), (2**32,))            # a view: no memory behind it
    with pytest.raises(ValueError, match="dimension too large for IDX"):
        write_idx(tmp_path / "huge.idx", huge)
    assert not (tmp_path / "huge.idx").exists()


def _file(tmp_path, raw):
    path = tmp_path / "f.idx"
    path.write_bytes(raw)
    return path


def test_header_checks(tmp_path):
    with pytest.raises(DataError, match="IDX header declares 0 dimensions"):
        read_idx(_file(tmp_path, bytes([0, 0, 8, 0])))
    with pytest.raises(DataError, match="IDX header declares 0 dimensions"):
        read_idx(_file(tmp_path, bytes([0, 0, 8, 0, 7])))   # one byte that a 0-d array would take
    with pytest.raises(DataError, match=r"not an IDX file \(magic number 0x01000801\)"):
        read_idx(_file(tmp_path, bytes([1, 0, 8, 1, 0, 0, 0, 1, 5])))
    with pytest.raises(DataError, match="truncated: 3 bytes"):
        read_idx(_file(tmp_path, bytes([0, 0, 8])))


def test_wrong_magic_is_described(tmp_path):
    with pytest.raises(DataError, match=r"0x00000901 \(int8 with 1 dimension\), expected 0x00000801 "
                                        r"\(uint8 with 1 dimension\)"):
        read_labels(_file(tmp_path, bytes([0, 0, 9, 1, 0, 0, 0, 1, 5])))
    with pytest.raises(DataError, match=r"\(uint8 with 0 dimensions\)"):
        read_labels(_file(tmp_path, bytes([0, 0, 8, 0])))


def test_magic_numbers_with_high_bits_are_not_idx(tmp_path):
    for raw in (bytes([1, 0, 8, 1]), bytes([0, 1, 8, 1])):
        magic = int.from_bytes(raw, "big")
        with pytest.raises(DataError, match=rf"wrong magic number 0x{magic:08X} \(not an IDX file\)"):
            read_labels(_file(tmp_path, raw + bytes([0, 0, 0, 1, 5])))


def test_unreadable_path_is_a_data_error(tmp_path):
    blocker = _file(tmp_path, b"x")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(blocker / "child.idx")                     # a path through a file


def test_dimensions_are_read_as_four_bytes(tmp_path):
    a = np.zeros((1, 2**24 + 3), dtype=np.uint8)              # a dimension that needs all 4 bytes
    a[0, -1] = 7
    write_idx(tmp_path / "wide.idx", a)
    back = read_idx(tmp_path / "wide.idx")
    assert back.shape == a.shape and back[0, -1] == 7
