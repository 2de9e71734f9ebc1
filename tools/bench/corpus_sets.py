#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds the calibration and held-out evaluation sets the accuracy benchmark uses, from the corpus
(../shared/corpus, or $PTQ_CORPUS), in ptq's sample-folder layout, under ~/.cache/ptq-bench (or OUT).

    /usr/bin/python3 tools/bench/corpus_sets.py [OUT]

Per set: <set>_calib/NNN/<input>.npy (calibration samples) and <set>_eval/<input>.npy (held-out samples
stacked on axis 0, run one by one with --per-sample) + <set>_eval/labels.npy where labels exist.
ImageNet (224, 192, 128 px): every 10th of the 1000 labelled images calibrates (100), the other 900 evaluate; labels are
in the model's 1001-class TF indexing (background = 0). MNIST: 100 corpus calibration samples, the
10k test set evaluates. Detection/OCR sets: disjoint photos for calibration and evaluation."""
import glob
import gzip
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.environ.get('PTQ_CORPUS', os.path.join(os.path.dirname(ROOT), 'shared', 'corpus'))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser('~/.cache/ptq-bench')
sys.path.insert(0, os.path.join(CORPUS, 'tools'))
from make_inputs import prep_ocr_det, prep_tf_mobilenet, prep_ultraface, prep_yolox  # noqa: E402


def save_samples(name, samples):
    for i, s in enumerate(samples):
        d = os.path.join(OUT, name, '%03d' % i)
        os.makedirs(d, exist_ok=True)
        for k, v in s.items():
            np.save(os.path.join(d, k + '.npy'), np.ascontiguousarray(v, np.float32))
    print(name, len(samples))


def save_stacked(name, input_name, arrays, labels=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, input_name + '.npy'), np.ascontiguousarray(np.concatenate(arrays), np.float32))
    if labels is not None:
        np.save(os.path.join(d, 'labels.npy'), np.asarray(labels, np.int64))
    print(name, len(arrays))


def imagenet():
    files = sorted(glob.glob(os.path.join(CORPUS, 'data/imagenet_sample_1000/images/*.JPEG')))
    synsets = sorted({os.path.basename(f).split('_')[0] for f in files})
    calib = files[::10]
    held = [f for i, f in enumerate(files) if i % 10]
    labels = [synsets.index(os.path.basename(f).split('_')[0]) + 1 for f in held]
    for size in (224, 192, 128):
        if os.path.exists(os.path.join(OUT, 'imagenet%d_eval' % size, 'labels.npy')):
            continue
        save_samples('imagenet%d_calib' % size, [{'input': prep_tf_mobilenet(f, size)} for f in calib])
        save_stacked('imagenet%d_eval' % size, 'input', [prep_tf_mobilenet(f, size) for f in held], labels)


def mnist():
    images = np.load(os.path.join(CORPUS, 'data/mnist/test_images_u8.npy')).astype(np.float32)[:, None]
    save_stacked('mnist_eval', 'Input3', [images], np.load(os.path.join(CORPUS, 'data/mnist/test_labels.npy')))


def fmnist():
    fd = '/usr/share/datasets/fashion-mnist/'
    raw = np.frombuffer(gzip.open(fd + 't10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    labels = np.frombuffer(gzip.open(fd + 't10k-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)
    save_stacked('fmnist_eval', 'input', [(raw.astype(np.float32) / 255 - 0.2860) / 0.3530], labels)


def detection():
    faces = sorted(glob.glob(os.path.join(CORPUS, 'data/images/faces_ultraface/*.jpg')))
    photos = sorted(glob.glob(os.path.join(CORPUS, 'data/images/coral/*.jpg')) +
                    glob.glob(os.path.join(CORPUS, 'data/images/ort_examples/*.jpg')) +
                    glob.glob(os.path.join(CORPUS, 'data/images/skimage/*.png')))
    save_samples('ultraface320_calib', [{'input': prep_ultraface(p)} for p in faces[::2]])
    save_samples('ultraface320_eval', [{'input': prep_ultraface(p)} for p in faces[1::2]])
    save_samples('ultraface640_calib', [{'input': prep_ultraface(p, 640, 480)} for p in faces[::2]])
    save_samples('ultraface640_eval', [{'input': prep_ultraface(p, 640, 480)} for p in faces[1::2]])
    save_samples('yolox_calib', [{'images': prep_yolox(p)} for p in photos[::2]])
    save_samples('yolox_eval', [{'images': prep_yolox(p)} for p in photos[1::2]])
    ocr = [os.path.join(CORPUS, p) for p in ('data/text/text_block.png', 'data/images/skimage/page.png',
                                             'data/images/skimage/text.png', 'data/images/coral/missvickie_potato_chips.bmp')]
    ocr = [p for p in ocr if os.path.exists(p)] + sorted(glob.glob(os.path.join(CORPUS, 'data/text/lines/*.png')))[:8]
    save_samples('ppocr_det_calib', [{'x': prep_ocr_det(p)} for p in ocr[::2]])
    save_samples('ppocr_det_eval', [{'x': prep_ocr_det(p)} for p in ocr[1::2]])


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    imagenet()
    mnist()
    fmnist()
    detection()
