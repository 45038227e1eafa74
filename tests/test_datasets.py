"""The data readers, on small files in the real formats written here, and the generated pose set."""

from __future__ import annotations

import gzip
import math
import os
import pickle

import numpy as np
import pytest
import torch

from metricloss.errors import MetricLossError
from metricloss.train.datasets import DataError
from metricloss.train.datasets.augment import crop_flip
from metricloss.train.datasets.cifar import load_cifar
from metricloss.train.datasets.digits import load_digits
from metricloss.train.datasets.heatmaps import gaussian_heatmaps, to_heatmap
from metricloss.train.datasets.mnist import load_mnist, read_idx
from metricloss.train.datasets.mpii import PersonCrops, load_mpii, read_annotations
from metricloss.train.datasets.splits import carve
from metricloss.train.datasets.synthetic_pose import SyntheticPose, generate, load_synthetic_pose, palette
from metricloss.train.models.standardize import fit

# ---- MNIST ----------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_mnist(directory, train=24, test=10, gzipped=("train",), seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for part, prefix, count in (("train", "train", train), ("test", "t10k", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        arrays[part] = images, labels
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            if part in gzipped:
                (directory / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / name).write_bytes(data)
    return arrays


def test_idx_is_read_with_its_header_shape_gzipped_or_not(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "raw").write_bytes(idx_bytes(array))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(idx_bytes(array)))
    for name in ("raw", "packed.gz"):
        assert torch.equal(read_idx(tmp_path / name), torch.from_numpy(array))
    wide = np.array([[1, -2], [70000, 3]], dtype=">i4")
    (tmp_path / "wide").write_bytes(idx_bytes(wide))
    assert read_idx(tmp_path / "wide").tolist() == [[1, -2], [70000, 3]]


def test_mnist_loads_images_labels_and_a_seeded_validation_split(tmp_path):
    arrays = write_mnist(tmp_path, train=24, test=10, gzipped=("train",))
    data = load_mnist(tmp_path, seed=3, validation=0.25)
    assert data.train.inputs.shape == (18, 1, 28, 28) and data.train.inputs.dtype == torch.uint8
    assert len(data.validation) == 6 and len(data.test) == 10
    assert torch.equal(data.test.inputs[:, 0], torch.from_numpy(arrays["test"][0]))
    assert data.test.targets[0].dtype == torch.long
    # train + validation are the training file's rows, each once, images still paired with labels
    kept, carved = carve(24, 0.25, seed=3)
    images, labels = (torch.from_numpy(a) for a in arrays["train"])
    assert torch.equal(data.validation.inputs[:, 0], images[carved])
    assert torch.equal(data.train.targets[0], labels[kept].long())
    assert sorted(kept.tolist() + carved.tolist()) == list(range(24))
    again = load_mnist(tmp_path, seed=3, validation=0.25)
    assert torch.equal(again.validation.inputs, data.validation.inputs)
    assert not torch.equal(load_mnist(tmp_path, seed=4, validation=0.25).validation.inputs, data.validation.inputs)
    assert str(tmp_path) in data.source


def test_mnist_is_found_in_torchvisions_layout(tmp_path):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    write_mnist(tmp_path / "MNIST" / "raw", gzipped=())
    assert len(load_mnist(tmp_path, seed=0).test) == 10


def test_missing_mnist_files_name_the_file_and_where_to_get_them(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*ossci-datasets.s3.amazonaws.com/mnist") as error:
        load_mnist(tmp_path, seed=0)
    assert isinstance(error.value, MetricLossError)
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nowhere", seed=0)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-5], r"holds \d+ bytes of data but its header promises"),
    (lambda raw: b"\x12\x34" + raw[2:], "is not an IDX file"),
    (lambda raw: gzip.compress(raw)[:40], "cannot read .*damaged"),
])
def test_damaged_idx_files_are_reported(tmp_path, damage, message):
    write_mnist(tmp_path, gzipped=())
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=f"train-images-idx3-ubyte.*{message}|{message}.*train-images"):
        load_mnist(tmp_path, seed=0)


def test_a_gzip_file_with_a_damaged_deflate_stream_is_reported_not_raised_as_zlib_error(tmp_path):
    write_mnist(tmp_path, gzipped=("train",))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[10] = 0xFF  # the first deflate block's type becomes the reserved 11: zlib.error, not an OSError
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"cannot read .*train-images-idx3-ubyte.gz .*damaged.*download it again"):
        load_mnist(tmp_path, seed=0)


@pytest.mark.parametrize("part, name", [("train", "train-images-idx3-ubyte"), ("test", "t10k-images-idx3-ubyte")])
def test_an_idx_file_of_no_images_is_refused_before_training(tmp_path, part, name):
    write_mnist(tmp_path, gzipped=(), **{part: 0})
    with pytest.raises(DataError, match=f"{name} holds no images .*download it again"):
        load_mnist(tmp_path, seed=0)


def test_too_few_training_images_for_a_validation_split_are_refused(tmp_path):
    write_mnist(tmp_path, train=3, gzipped=())  # 3 / 12 rounds to no validation image
    with pytest.raises(DataError, match=r"hold only 3 images, too few to carve a validation split"):
        load_mnist(tmp_path, seed=0)


def test_a_data_directory_that_is_a_file_is_called_a_file(tmp_path):
    path = tmp_path / "mnist.tar.gz"
    path.write_bytes(b"not a folder")
    with pytest.raises(DataError, match="is a file, not a folder: give --data-dir the folder") as error:
        load_mnist(path, seed=0)
    assert "does not exist" not in str(error.value)


def test_mnist_images_and_labels_must_pair_up(tmp_path):
    write_mnist(tmp_path, gzipped=())
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DataError, match="labels for the 24 images"):
        load_mnist(tmp_path, seed=0)


# ---- CIFAR ----------------------------------------------------------------------------------


def write_cifar(directory, classes, per_batch=6, seed=0):
    """Batches as the official archives pickle them: bytes keys, uint8 [N, 3072], a list of labels."""
    rng = np.random.default_rng(seed)
    folder = directory / ("cifar-10-batches-py" if classes == 10 else "cifar-100-python")
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if classes == 10 else ["train", "test"]
    label_key = b"labels" if classes == 10 else b"fine_labels"
    written = {}
    for name in names:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, classes, per_batch)]
        batch = {b"batch_label": b"fake", b"data": data, label_key: labels, b"filenames": [b"x.png"] * per_batch}
        if classes == 100:
            batch[b"coarse_labels"] = [0] * per_batch
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
        written[name] = data, labels
    return folder, written


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_batches_load_as_channel_planes(tmp_path, classes):
    folder, written = write_cifar(tmp_path, classes)
    for directory in (tmp_path, folder):  # the parent or the extracted folder itself
        data = load_cifar(directory, classes, seed=0, validation=0.2)
        train_rows = 30 if classes == 10 else 6
        assert len(data.train) + len(data.validation) == train_rows
        assert data.test.inputs.shape == (6, 3, 32, 32) and data.test.inputs.dtype == torch.uint8
    test_data, test_labels = written["test_batch" if classes == 10 else "test"]
    image = data.test.inputs[2]
    row = test_data[2]
    assert image[0, 0, 0] == row[0] and image[1, 0, 0] == row[1024] and image[2, 31, 31] == row[3071]
    assert image[0, 1, 5] == row[32 + 5]
    assert data.test.targets[0].tolist() == test_labels


def test_cifar10_joins_the_five_training_batches_in_order(tmp_path):
    _, written = write_cifar(tmp_path, 10, per_batch=4)
    data = load_cifar(tmp_path, 10, seed=0, validation=0.0)
    expected = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert torch.equal(data.train.inputs.reshape(20, -1), torch.from_numpy(expected))


def test_missing_cifar_batch_names_it_and_the_archive(tmp_path):
    folder, _ = write_cifar(tmp_path, 10)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3.*cs.toronto.edu/~kriz/cifar-10-python.tar.gz"):
        load_cifar(tmp_path, 10, seed=0)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


@pytest.mark.parametrize("content, message", [
    (b"not a pickle at all", "is not a CIFAR python batch"),
    (pickle.dumps({b"data": _Exploit()}), r"asks for (posix|nt)\.system"),
    (pickle.dumps({b"images": np.zeros((2, 3072), np.uint8)}), "not 'data' and 'fine_labels'"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}), r"expected uint8 \[N, 3072\]"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 100]}), "labels outside 0-99"),
    (pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"fine_labels": []}), "holds no images .*download it again"),
])
def test_damaged_or_foreign_cifar_pickles_are_refused(tmp_path, content, message):
    folder, _ = write_cifar(tmp_path, 100)
    (folder / "train").write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_cifar(tmp_path, 100, seed=0)


# ---- digits ---------------------------------------------------------------------------------


def test_bundled_digits_split_by_seed():
    data = load_digits(seed=0)
    assert (len(data.train), len(data.validation), len(data.test)) == (1048, 210, 539)
    assert data.train.inputs.shape[1:] == (1, 8, 8) and int(data.train.inputs.max()) == 16
    assert torch.equal(load_digits(seed=0).test.inputs, data.test.inputs)
    assert not torch.equal(load_digits(seed=1).test.inputs, data.test.inputs)
    assert "scikit-learn digits" in data.source


# ---- MPII -----------------------------------------------------------------------------------


def struct_array(records):
    """A MATLAB struct array (1 x n), as scipy writes a numpy structured array."""
    fields = list(records[0])
    array = np.zeros((1, len(records)), dtype=[(f, object) for f in fields])
    for i, record in enumerate(records):
        for f in fields:
            array[0, i][f] = record[f]
    return array


def person(head, scale, objpos, points):
    """One annorect as in the release: head box, scale, objpos and annopoints.point (1-based pixels)."""
    x1, y1, x2, y2 = head
    annopoints = (struct_array([{"x": float(x), "y": float(y), "id": j, "is_visible": 1} for j, x, y in points])
                  if points else np.zeros((0, 0)))
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "annopoints": {"point": annopoints} if points else annopoints,
            "scale": scale, "objpos": {"x": objpos[0], "y": objpos[1]}}


def write_mpii(directory, image_count=3):
    """A release .mat with ``image_count`` training images and one test image (no file), plus JPEGs.

    Each training image holds a bright square at each annotated joint, so a crop shows where the
    reader says the joint is. Image 1 has a second person without joints, who must be skipped.
    """
    from PIL import Image
    from scipy.io import savemat

    (directory / "images").mkdir(parents=True)
    annolist, people = [], []
    for i in range(image_count):
        width, height = 160 + 20 * i, 120
        points = [(0, 40 + 10 * i, 70), (9, 90, 30 + 5 * i), (12, 110, 90)]
        if i == 2:
            points = points[:1]  # a single joint: squeeze_me makes point a bare struct
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        for _, x, y in points:
            canvas[y - 3:y + 2, x - 3:x + 2] = 255  # 5x5 around the 1-based pixel (x, y)
        Image.fromarray(canvas).save(directory / "images" / f"{i:03d}.jpg", quality=95)
        rects = [person((80, 20, 100, 44), 0.45, (85, 62), points)]
        if i == 1:
            rects.append(person((10, 10, 20, 20), 0.3, (15, 40), []))
        annolist.append({"image": {"name": f"{i:03d}.jpg"}, "annorect": struct_array(rects)})
        people.append(points)
    test_person = struct_array([{"scale": 1.0, "objpos": {"x": 5, "y": 5}}])  # test images: no joints
    annolist.append({"image": {"name": "test.jpg"}, "annorect": test_person})
    release = {"annolist": struct_array(annolist), "img_train": np.array([[1] * image_count + [0]]),
               "single_person": np.zeros((image_count + 1, 1), dtype=object),
               "act": np.zeros((image_count + 1, 1))}
    savemat(directory / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": release})
    return people


def test_mpii_annotations_give_joints_head_sizes_and_crops(tmp_path):
    written = write_mpii(tmp_path)
    people = read_annotations(tmp_path / "mpii_human_pose_v1_u12_1.mat")
    assert people.image == ["000.jpg", "001.jpg", "002.jpg"]  # the joint-less person and the test image: skipped
    assert people.annotated[0].nonzero().squeeze(1).tolist() == [0, 9, 12]
    assert people.annotated[2].nonzero().squeeze(1).tolist() == [0]
    assert people.joints[0, 9].tolist() == [89.0, 29.0]  # 0-based
    assert people.head_size[0].item() == pytest.approx(0.6 * math.hypot(20, 24))
    assert people.side[0].item() == pytest.approx(200 * 1.25 * 0.45)
    assert people.centre[0].tolist() == pytest.approx([84, 61 + 15 * 0.45])

    data = load_mpii(tmp_path, seed=0, validation=1 / 3, test=1 / 3, input_size=64, heatmap_size=16)
    assert [len(s) for s in (data.train, data.validation, data.test)] == [1, 1, 1]
    crops = [data.train, data.validation, data.test]
    for split in crops:
        image = split.inputs[0:1].float()[0].mean(0)  # [64, 64], decoded from the JPEG
        joints, head_size, visible = (t[0] for t in split.targets)
        assert head_size.item() == pytest.approx(0.6 * math.hypot(20, 24) * 16 / round(200 * 1.25 * 0.45))
        assert visible.sum() in (1, 3)
        for joint in visible.nonzero().squeeze(1).tolist():
            # where the reader puts the joint on the 16x16 heatmap, seen on the 64x64 crop
            x, y = ((joints[joint] + 0.5) * 4 - 0.5).tolist()
            window = image[max(0, round(y) - 4):round(y) + 5, max(0, round(x) - 4):round(x) + 5]
            assert window.max() > 200, f"no bright square at joint {joint} ({x:.1f}, {y:.1f})"
            bright = (image > 128).nonzero().float()
            nearest = (bright - torch.tensor([y, x])).norm(dim=1).min()
            assert nearest < 2.0


def test_person_crops_index_like_a_tensor(tmp_path):
    write_mpii(tmp_path)
    data = load_mpii(tmp_path, seed=0, validation=0.0, test=0.0, input_size=32, heatmap_size=8)
    crops = data.train.inputs
    assert isinstance(crops, PersonCrops) and crops.shape == (3, 3, 32, 32) and len(data.train) == 3
    assert crops[0].shape == (3, 32, 32) and crops[0].dtype == torch.uint8
    assert torch.equal(crops[1:3], crops[torch.tensor([1, 2])])
    assert torch.equal(data.train.batch(torch.tensor([2, 0])).inputs, torch.stack([crops[2], crops[0]]))
    assert crops[0:0].shape == (0, 3, 32, 32)
    assert fit(crops).mean.shape == (3,)


def test_missing_mpii_files_are_named_with_the_download(tmp_path):
    with pytest.raises(DataError, match=r"mpii_human_pose_v1_u12_1.mat.*mpii_human_pose_v1_u12_2.zip"):
        load_mpii(tmp_path, seed=0)
    write_mpii(tmp_path)
    (tmp_path / "images" / "001.jpg").unlink()
    with pytest.raises(DataError, match=r"1 images named in .* are missing: .*001.jpg.*mpii_human_pose_v1.tar.gz"):
        load_mpii(tmp_path, seed=0)


def test_damaged_mpii_files_are_reported(tmp_path):
    from scipy.io import savemat

    write_mpii(tmp_path)
    (tmp_path / "images" / "000.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = load_mpii(tmp_path, seed=0, validation=0.0, test=0.0, input_size=32, heatmap_size=8)
    with pytest.raises(DataError, match=r"cannot decode .*000.jpg"):
        data.train.inputs[0]
    annotations = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    annotations.write_bytes(b"MATLAB 5.0 MAT-file, but then nothing")
    with pytest.raises(DataError, match="cannot read .*mpii_human_pose_v1_u12_1.mat"):
        load_mpii(tmp_path, seed=0)
    savemat(annotations, {"something": np.zeros(3)})
    with pytest.raises(DataError, match="no RELEASE struct"):
        load_mpii(tmp_path, seed=0)


# ---- the synthetic pose set -----------------------------------------------------------------


def test_synthetic_pose_is_deterministic_and_sized_by_its_config():
    config = SyntheticPose(train=40, validation=8, test=8, image_size=32, joints=5)
    data = load_synthetic_pose(7, config)
    again = load_synthetic_pose(7, config)
    for split, same in zip((data.train, data.validation, data.test), (again.train, again.validation, again.test)):
        assert torch.equal(split.inputs, same.inputs)
        assert all(torch.equal(a, b) for a, b in zip(split.targets, same.targets))
    assert data.train.inputs.shape == (40, 3, 32, 32) and data.train.inputs.dtype == torch.uint8
    joints, head_size, visible = data.train.targets
    assert joints.shape == (40, 5, 2) and head_size.shape == (40,) and visible.dtype == torch.bool
    assert ((joints >= -0.5) & (joints <= config.heatmap_size - 0.5)).all()
    assert (0.5 * head_size).min() > 0.5 and (0.5 * head_size).max() < 2.5  # PCKh radius in heatmap pixels
    assert not torch.equal(load_synthetic_pose(8, config).train.inputs, data.train.inputs)
    assert data.synthetic and "seed 7" in data.source
    bigger = load_synthetic_pose(7, SyntheticPose(train=60, validation=8, test=8, image_size=32, joints=5))
    assert torch.equal(bigger.test.inputs, data.test.inputs)  # resizing train leaves test alone


def test_synthetic_joints_lie_on_blobs_of_their_colour():
    config = SyntheticPose(image_size=64, joints=4, occluded=0.2, distractors=0, noise=0.0)
    split = generate(200, config, torch.Generator().manual_seed(0))
    joints, _, visible = split.targets
    pixel = ((joints + 0.5) * 4 - 0.5).round().long()  # heatmap -> image pixel
    rows = torch.arange(200)[:, None].expand(-1, 4)
    colour = split.inputs.permute(0, 2, 3, 1)[rows, pixel[..., 1], pixel[..., 0]].float() / 255  # [N, J, 3]
    distance = (colour[:, :, None] - palette(4)[None, None]).norm(dim=-1)  # to each joint's colour
    closest = distance.argmin(-1)
    own = closest == torch.arange(4)
    # a later blob may cover an earlier one where two joints nearly coincide: allow a few
    assert own[visible].float().mean() > 0.95
    assert (distance[visible].gather(1, closest[visible][:, None]) < 0.25).float().mean() > 0.95
    own_distance = distance.diagonal(dim1=1, dim2=2)  # [N, J]: to the joint's own colour
    assert (own_distance[~visible] > 0.5).all()  # occluded joints are not drawn
    assert 0.7 < visible.float().mean() < 0.9


# ---- small parts ----------------------------------------------------------------------------


def test_gaussian_heatmaps_peak_at_visible_joints_and_vanish_elsewhere():
    joints = torch.tensor([[[3.0, 5.0], [1.2, 1.7]]])
    maps = gaussian_heatmaps(joints, torch.tensor([[True, False]]), 8, 10)
    assert maps.shape == (1, 2, 8, 10)
    assert maps[0, 0, 5, 3] == 1.0 and maps[0, 0, 5, 4].item() == pytest.approx(math.exp(-0.5))
    assert maps[0, 1].abs().max() == 0
    assert to_heatmap(torch.tensor([1.5, 255.5]), 256, 64).tolist() == [0.0, 63.5]


def test_crop_flip_shifts_and_mirrors_per_image():
    # 64 random images: a mirror or a shift that is the same for all of them has odds of 2**-63 or less
    images = torch.randint(0, 256, (64, 2, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(crop_flip(pad=0, flip=False)(images, torch.Generator()), images)
    mirrored = crop_flip(pad=0, flip=True)(images, torch.Generator().manual_seed(0))
    flipped = []
    for image, result in zip(images, mirrored):
        assert torch.equal(result, image) or torch.equal(result, image.flip(-1))
        flipped.append(torch.equal(result, image.flip(-1)))
    assert any(flipped) and not all(flipped)  # mirrored per image, not all or none
    shifted = crop_flip(pad=2, flip=False)(images, torch.Generator().manual_seed(1))
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    offsets = set()
    for image, result in zip(images, shifted):  # every shifted image is a window of the padded one
        padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(result, padded[:, dy:dy + 5, dx:dx + 5])]
        assert len(found) == 1
        offsets |= set(found)
    assert len(offsets) > 1  # shifted per image, not all alike


def test_standardize_measures_the_training_images_per_channel():
    images = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8)
    layer = fit(images, chunk=7)
    floats = images.double()
    assert torch.allclose(layer.mean.double(), floats.mean((0, 2, 3)), atol=1e-4)
    per_channel = floats.permute(1, 0, 2, 3).flatten(1)
    assert torch.allclose(layer.std.double(), per_channel.std(1, unbiased=False), atol=1e-3)
    out = layer(images)
    assert out.dtype == torch.float32 and out.mean().abs() < 1e-4
