import gzip
import struct

import numpy as np
import pytest
import torch
from emnist_files import IMAGES, MAPPING, upright_l, write_split

from diffusion_core.data.emnist import (
    BYCLASS_NAMES,
    EMNISTDataMissing,
    IDXFormatError,
    batch_source,
    case_merged,
    load_emnist,
    split_indices,
)


@pytest.fixture
def tiny(tmp_path):
    images = np.stack(
        [upright_l(), np.full((28, 28), 51, dtype=np.uint8), np.zeros((28, 28), dtype=np.uint8)]
    )
    write_split(tmp_path, images, np.array([21, 36, 61]))
    return tmp_path


def test_loader_returns_upright_images_scaled_to_minus_one_one_with_labels_and_names(tiny):
    data = load_emnist(tiny)
    assert data.images.shape == (3, 1, 28, 28) and data.images.dtype == torch.float32
    expected_l = torch.from_numpy(upright_l()).float() / 127.5 - 1
    assert torch.equal(data.images[0, 0], expected_l)
    # The foot of the L is a bottom row, not a right-hand column: the stored transpose was undone.
    assert data.images[0, 0, 23, 6:20].eq(1.0).all() and data.images[0, 0, 6:20, 23].eq(-1.0).all()
    assert data.images[1].unique().tolist() == pytest.approx([51 / 127.5 - 1])
    assert data.images[2].unique().tolist() == [-1.0]
    assert data.labels.tolist() == [21, 36, 61] and data.labels.dtype == torch.long
    assert [data.class_names[i] for i in data.labels] == ["L", "a", "z"]
    assert len(data.class_names) == 62 and "".join(data.class_names[:11]) == "0123456789A"


def test_bad_magic_number_is_named_with_the_file(tiny):
    write_split(tiny, np.zeros((1, 28, 28), dtype=np.uint8), np.array([0]), images_magic=0x801)
    with pytest.raises(
        IDXFormatError, match=r"images-idx3-ubyte.gz: magic number 0x00000801, expected 0x00000803"
    ):
        load_emnist(tiny)


def test_truncated_gzip_stream_is_reported(tiny):
    path = tiny / IMAGES
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IDXFormatError, match=r"images-idx3-ubyte.gz: truncated gzip stream"):
        load_emnist(tiny)


def test_payload_shorter_than_the_header_promises_is_reported(tiny):
    header = struct.pack(">IIII", 0x803, 3, 28, 28)
    (tiny / IMAGES).write_bytes(gzip.compress(header + bytes(2 * 784 + 5)))
    with pytest.raises(
        IDXFormatError, match=r"promises 3 items = 2352 bytes after the header, the file holds 1573"
    ):
        load_emnist(tiny)


def test_label_outside_the_class_map_is_reported_with_its_index(tiny):
    write_split(tiny, np.zeros((2, 28, 28), dtype=np.uint8), np.array([5, 62]))
    with pytest.raises(IDXFormatError, match=r"label 62 at index 1 is outside 0..61"):
        load_emnist(tiny)


def test_wrong_byclass_mapping_is_rejected(tiny):
    (tiny / MAPPING).write_text("0 48\r\n1 49\r\n")
    with pytest.raises(IDXFormatError, match=r"classes '01', expected '0123456789ABC"):
        load_emnist(tiny)


def test_missing_files_message_names_data_dir_flag_and_expected_files(tmp_path):
    with pytest.raises(EMNISTDataMissing) as error:
        load_emnist(tmp_path)
    message = str(error.value)
    assert "--data-dir" in message
    for name in (
        "emnist-byclass-test-images-idx3-ubyte.gz",
        "emnist-byclass-test-labels-idx1-ubyte.gz",
        "emnist-byclass-mapping.txt",
    ):
        assert name in message
    with pytest.raises(
        ValueError, match="unknown EMNIST split 'balanced'; choose one of byclass, bymerge, mnist"
    ):
        load_emnist(tmp_path, "balanced")


def test_held_out_split_is_fixed_by_the_seed_and_partitions_the_rows():
    train, held = split_indices(1000, 0.1, seed=0)
    again_train, again_held = split_indices(1000, 0.1, seed=0)
    assert len(held) == 100 and len(train) == 900
    assert torch.equal(held, again_held) and torch.equal(train, again_train)
    assert sorted(torch.cat([train, held]).tolist()) == list(range(1000))
    assert not torch.equal(split_indices(1000, 0.1, seed=1)[1], held)
    with pytest.raises(ValueError, match="held_out_fraction must be in \\(0, 1\\), got 1.5"):
        split_indices(10, 1.5)


def test_case_merge_folds_only_the_look_alike_lowercase_letters():
    index = {name: i for i, name in enumerate(BYCLASS_NAMES)}
    labels = torch.tensor([index[c] for c in "cCoszabW5"])
    merged = [BYCLASS_NAMES[i] for i in case_merged(labels)]
    assert merged == list("CCOSZabW5")


def test_batch_source_draws_matching_rows_reproducibly():
    images = torch.arange(10, dtype=torch.float32)[:, None, None, None].expand(10, 1, 28, 28)
    labels = torch.arange(10)
    draw = batch_source(images, labels)
    x, y = draw(6, torch.Generator().manual_seed(3))
    x2, y2 = draw(6, torch.Generator().manual_seed(3))
    assert x.shape == (6, 1, 28, 28) and torch.equal(x[:, 0, 0, 0].long(), y)
    assert torch.equal(y, y2)


@pytest.mark.parametrize("balance", [0.0, 0.5, 1.0])
def test_class_balance_draws_class_c_in_proportion_to_its_count_to_the_one_minus_beta(balance):
    # Classes of 900, 90 and 10 rows; each image's pixel says which row it is.
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate((900, 90, 10))])
    images = torch.arange(len(labels), dtype=torch.float32)[:, None, None, None].expand(-1, 1, 28, 28)
    x, y = batch_source(images, labels, balance)(60_000, torch.Generator().manual_seed(0))
    assert torch.equal(labels[x[:, 0, 0, 0].long()], y)  # every image arrives with its own label
    expected = torch.tensor([900.0, 90.0, 10.0]) ** (1 - balance)
    shares = torch.bincount(y, minlength=3).double() / len(y)
    assert shares.tolist() == pytest.approx((expected / expected.sum()).tolist(), abs=0.01)
    # Within the rarest class, every row is drawn: balance repeats rows, it does not pick a few.
    rare_rows = x[y == 2, 0, 0, 0].long().unique()
    assert len(rare_rows) == 10


def test_class_balance_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match=r"class_balance must be in \[0, 1\], got 1.5"):
        batch_source(torch.zeros(3, 1, 28, 28), torch.arange(3), 1.5)
