"""The plate reader's network, labels and losses (used by train_reader.py).

Three text heads (``build(..., head=...)``):

* ``ctc`` (v4 candidate): the trunk keeps stride 4 across the plate; one learned (height x 1)
  convolution per plate row turns the feature map into a sequence of columns, top row first,
  and every column is classified (characters + blank).  Decoding (``edge_alpr.engine.ctc``)
  merges repeats and drops blanks, so the characters' order comes from the image: a slot head
  can attend to one glyph twice (``444MWK`` read as ``444WWW``), a CTC head cannot.  Two-line
  plates read top row first because the top row's columns come first.
* ``attention`` (v2, v3): each of the 10 slots attends over the 5x16 feature map (learned
  position embedding) and one classifier, shared by all slots, names the character there.  A
  character learned in one slot is known in every slot, and the head has a few thousand
  weights instead of a million, so it cannot memorise the real crops (v1 read 99 % of the
  train crops and 9 % of the US dev crops).
* ``dense`` (v1): flatten the feature map into one dense layer per slot.
"""

from __future__ import annotations

import numpy as np

from edge_alpr.engine import ctc
from scripts.data import reader_data as rd

IN_H, IN_W, MAX_LEN = rd.IN_H, rd.IN_W, rd.MAX_LEN
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ?"
PAD = len(ALPHABET)  # the slot heads' "no character" class, and the CTC head's blank
CTC_ROWS = 2  # text rows a CTC reader decodes (top row's columns first)


def encode(text: str) -> np.ndarray:
    ids = [ALPHABET.index(c) for c in text[:MAX_LEN]]
    return np.array(ids + [PAD] * (MAX_LEN - len(ids)), np.int32)


class LearnedEmbedding:
    """Factory for a Keras layer adding a trainable tensor of ``shape`` (a position embedding)."""

    @staticmethod
    def layer(shape: tuple[int, ...], name: str) -> object:
        import keras

        class _Add(keras.layers.Layer):
            def build(self, input_shape: object) -> None:
                self.table = self.add_weight(shape=shape, initializer="zeros", name="table")

            def call(self, x: object) -> object:
                return x + self.table

        return _Add(name=name)


def build(n_regions: int, head: str = "attention", context: int = 0) -> object:
    """The reader; ``context`` > 0 adds that many residual context blocks to a CTC head (``with_context``)."""
    import keras
    from keras import layers as L

    def block(x: object, ch: int) -> object:
        x = L.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU()(x)

    inp = keras.Input((IN_H, IN_W, 3), name="crop")
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.MaxPooling2D()(block(x, 32))
    x = L.MaxPooling2D()(block(x, 64))
    # the CTC head keeps stride 4 across the plate: 32 columns per row for up to 10 characters
    x = L.MaxPooling2D((2, 1) if head == "ctc" else 2)(block(block(x, 96), 96))
    x = block(block(x, 128), 128)
    if head == "ctc":
        gh, gw = IN_H // 8, IN_W // 4
        rows = [L.Reshape((gw, 128))(L.Conv2D(128, (gh, 1), activation="relu", name=f"row{i}")(x))
                for i in range(CTC_ROWS)]
        seq = L.Conv1D(128, 3, padding="same", activation="relu")(L.Concatenate(axis=1)(rows))
        seq = with_context(seq, context)
        chars = L.Softmax(name="chars")(L.Dense(PAD + 1)(L.Dropout(0.2)(seq)))
    elif head == "dense":
        c = L.Conv2D(32, 1, activation="relu")(x)
        c = L.Dropout(0.2)(L.Flatten()(c))
        c = L.Dense(MAX_LEN * (PAD + 1))(c)
        chars = L.Softmax(name="chars")(L.Reshape((MAX_LEN, PAD + 1))(c))
    else:
        gh, gw, ch = IN_H // 8, IN_W // 8, 128
        f = LearnedEmbedding.layer((1, gh, gw, ch), "position")(x)
        a = L.Conv2D(64, 1, activation="relu")(f)
        a = L.Conv2D(MAX_LEN, 1)(a)  # one attention map per slot
        a = L.Softmax(axis=-1)(L.Permute((2, 1))(L.Reshape((gh * gw, MAX_LEN))(a)))
        v = L.Reshape((gh * gw, ch))(L.Conv2D(ch, 1, activation="relu")(f))
        slots = L.Dot(axes=(2, 1))([a, v])  # (MAX_LEN, ch): what each slot looks at
        slots = LearnedEmbedding.layer((1, MAX_LEN, ch), "slot")(slots)
        h = L.Dropout(0.2)(L.Dense(128, activation="relu")(slots))
        chars = L.Softmax(name="chars")(L.Dense(PAD + 1)(h))
    r = L.GlobalAveragePooling2D()(x)
    region = L.Dense(n_regions, activation="softmax", name="region")(r)
    return keras.Model(inp, [chars, region])


CONTEXT_PREFIX = "ctx"  # layers of with_context: new in a run that starts from a reader without them


def with_context(seq: object, blocks: int) -> object:
    """Residual context for the CTC columns: dilated convolutions along the sequence, and the
    whole plate's mean, each added back through a zero-initialised projection.

    Why: every column of the plain CTC head is classified from a window about a third of the
    plate wide, so nothing tells it the plate's format (a Spanish plate's first character is a
    digit, an EU band's letters are not the plate's).  Dilations 1, 2, 4, 8 ... reach the whole
    row in four blocks, and the plate's mean reaches every column at once.  The projections
    start at zero, so a reader grown from one without context reads exactly as it did, and
    training adds context only where it helps.
    """
    if blocks <= 0:
        return seq
    from keras import layers as L

    ch = seq.shape[-1]
    for i in range(blocks):
        h = L.Conv1D(ch, 3, padding="same", dilation_rate=2**i, activation="relu", name=f"{CONTEXT_PREFIX}{i}")(seq)
        h = L.Conv1D(ch, 1, kernel_initializer="zeros", name=f"{CONTEXT_PREFIX}{i}_out")(h)
        seq = L.Add(name=f"{CONTEXT_PREFIX}{i}_add")([seq, h])
    g = L.Dense(ch, activation="relu", name=f"{CONTEXT_PREFIX}_plate")(L.GlobalAveragePooling1D()(seq))
    g = L.Reshape((1, ch))(L.Dense(ch, kernel_initializer="zeros", name=f"{CONTEXT_PREFIX}_plate_out")(g))
    return L.Add(name=f"{CONTEXT_PREFIX}_plate_add")([seq, g])


def grow(src: object, dst: object) -> int:
    """Copy ``src``'s weights into ``dst``, the same reader with context blocks added
    (``with_context``): every layer but the new ones, in order; the new ones keep their
    zero-initialised projections, so ``dst`` reads as ``src`` did.  Returns the layers copied."""
    theirs = [lyr for lyr in src.layers if lyr.get_weights()]
    ours = [lyr for lyr in dst.layers if lyr.get_weights() and not lyr.name.startswith(CONTEXT_PREFIX)]
    for a, b in zip(theirs, ours, strict=True):
        b.set_weights(a.get_weights())
    return len(ours)


def copy_trunk(src: object, dst: object) -> int:
    """Copy the convolution trunk (3x3 conv + batch-norm layers, in order) between heads.

    Heads have no batch norm and no 3x3 convolution, so this is the trunk of every head."""
    from keras import layers as L

    def trunk(m: object) -> list:
        layers = [lyr for lyr in m.layers if isinstance(lyr, (L.Conv2D, L.BatchNormalization))]
        return [lyr for lyr in layers if not (isinstance(lyr, L.Conv2D) and lyr.kernel_size != (3, 3))]

    pairs = list(zip(trunk(src), trunk(dst), strict=True))
    for a, b in pairs:
        b.set_weights(a.get_weights())
    return len(pairs)


def ctc_loss(y, p):
    """CTC loss of the softmax output (its log is a valid logit input) against padded labels."""
    from keras import ops

    y = ops.cast(y, "int32")
    target_len = ops.sum(ops.cast(ops.not_equal(y, PAD), "int32"), axis=-1)
    frames = ops.ones_like(target_len) * ops.shape(p)[1]
    return ops.ctc_loss(y, ops.log(ops.maximum(p, 1e-7)), target_len, frames, mask_index=PAD)


UNKNOWN = ALPHABET.index("?")  # a masked character in a label: no target for its slot


def slot_loss(y, p):
    """Cross-entropy of the slot heads; a masked character (``?``) must be some character, never none.

    Why: a label's ``?`` marks a character hidden in the image (uc3m's grey masks).  Taught as a
    class of its own, the reader learned to answer ``?`` for hidden and unclear characters
    alike.  Masked out of the loss altogether, the slot had no target, so "no character" (PAD)
    was free there and a plate read one character short (9 % of held-out uc3m crops).  So the
    target of a ``?`` slot is the total probability of every class but PAD: the reader learns
    that a character stands there without being told which.
    """
    from keras import ops

    y = ops.cast(y, "int32")
    known = ops.not_equal(y, UNKNOWN)
    p_label = ops.take_along_axis(p, ops.expand_dims(y, -1), axis=-1)[..., 0]
    p_some = 1.0 - p[..., PAD]
    ce = -ops.log(ops.maximum(ops.where(known, p_label, p_some), 1e-7))
    return ops.mean(ce, axis=-1)


def matches(read: str, label: str) -> bool:
    """Exact read, a label's ``?`` (a masked character) matching any one character (as evaluate.py scores)."""
    return len(read) == len(label) and all(b == "?" or a == b for a, b in zip(read, label))


def decode(probs: np.ndarray, head: str) -> str:
    """Best-path text of one crop's character output (the float monitor, not the service)."""
    if head == "ctc":
        return "".join(ALPHABET[i] for i in ctc.greedy(probs, PAD))
    return "".join(ALPHABET[i] for i in probs.argmax(-1) if i != PAD)


def region_loss(y, p):
    """Cross-entropy over crops that have a region label (label -1 = unknown); any Keras backend."""
    from keras import ops

    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    mask = ops.cast(ops.greater_equal(y, 0), "float32")
    picked = ops.take_along_axis(p, ops.expand_dims(ops.maximum(y, 0), -1), axis=-1)[..., 0]
    ce = -ops.log(ops.clip(picked, 1e-7, 1.0))
    return ops.sum(ce * mask) / ops.maximum(1.0, ops.sum(mask))


# A region label meaning "one of the ``group`` regions, which one unknown" (``region_group_loss``):
# a plate known to be American whose state nobody named
ANY_OF_GROUP = -2


def region_group_loss(group: list[int]):
    """``region_loss`` where the label ``ANY_OF_GROUP`` asks for the mass of ``group`` (the US
    states): a real plate a teacher called American teaches "American" without a made-up state."""
    from keras import ops

    if not group:
        raise ValueError("region_group_loss: the group is empty (a region list without US states?)")

    def loss(y, p):
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        one = ops.take_along_axis(p, ops.expand_dims(ops.maximum(y, 0), -1), axis=-1)[..., 0]
        members = ops.convert_to_tensor(np.isin(np.arange(p.shape[-1]), group).astype("float32"))
        anyof = ops.sum(p * members, axis=-1)
        picked = ops.where(ops.equal(y, ANY_OF_GROUP), anyof, one)
        mask = ops.cast(ops.logical_or(ops.greater_equal(y, 0), ops.equal(y, ANY_OF_GROUP)), "float32")
        ce = -ops.log(ops.clip(picked, 1e-7, 1.0))
        return ops.sum(ce * mask) / ops.maximum(1.0, ops.sum(mask))

    return loss
