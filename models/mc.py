"""Monte Carlo dropout passes: every image through the verifier many times, batched.

Three rules for how many passes an image gets (``MC_RULES``):

- ``fixed``: ``passes`` for every image, as one compiled call that returns only the mean
  and SD per class.
- ``adaptive``: passes in rounds of ``round_passes``; after ``min_passes``, and after every
  round from then on, an image whose verdict is *settled* stops and the others go on,
  up to ``passes``. Settled: clear even with the worst SDs its means allow, or ambiguous
  by a margin of standard errors (``settled``).
- ``one_pass``: one deterministic pass (every MCDropout off): its probabilities as the mean,
  SD 0; the verdict then flags an image whose top probability is below a confidence
  (``ONE_PASS_CONFIDENCE``, see ``models.verifier.ambiguity``) instead of the 2-SD rule.

The layers before the first MCDropout are deterministic, so they run once per image and
only the rest is repeated: the same distribution as repeating the whole network.
"""

import weakref

import keras
import numpy as np
from keras import layers, ops

from models import defaults
from models.data import to_classifier_input
from models.device import on_devices, predict_in_full_calls, split_evenly


@keras.saving.register_keras_serializable(package="mnist_synth")
class MCDropout(layers.Dropout):
    """Dropout that is active at prediction time too (Monte Carlo dropout)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


MC_RULES = {"fixed": "MC_PASSES passes for every image",
            "adaptive": "passes in rounds; an image stops once its verdict is settled, MC_PASSES at most",
            "one_pass": "one pass, dropout off; ambiguous below ONE_PASS_CONFIDENCE top probability"}
PRECISIONS = {"auto": "bfloat16 where the hardware computes it natively, else float32",
              "float32": "float32 everywhere", "bfloat16": "bfloat16 layers, float32 weights and softmax"}
SETTLED_Z = 3.0  # an ambiguous verdict settles once its gap and its top class's lead are this many SEs from zero
CLEAR_Z = 1.0  # a clear verdict settles once it holds with the worst-case SDs and means this many SEs closer
IMAGES_PER_BLOCK = 4096  # the adaptive rule holds every pass of this many images at a time (16 MB at 100 passes)
MIN_CALL_IMAGES = 8  # the adaptive rule's smallest call, in images (see call_size)


def mc_predict(model, images, passes=defaults.MC_PASSES, batch=512, rule="fixed", round_passes=defaults.MC_ROUND_PASSES,
               min_passes=defaults.MC_MIN_PASSES, trunk=None):
    """MC-dropout verdict statistics -> ``(mean, sd, used)``: mean and population SD over each
    image's passes, each (N, classes), and the passes each image got, (N,) int32.

    ``batch`` rows (images x passes) go through the network per call. Under the fixed rule
    every image is repeated ``passes`` times along the batch axis; under the adaptive rule
    each round repeats the images still going ``round_passes`` times, ``batch // round_passes``
    images a call; the last call of a round is padded to a power of two of images (``call_size``),
    so a few compiled calls serve every round however few images are still going. ``trunk``: the
    ``trunk_output`` of ``images``, where the caller has it already (the adaptive rule starts from it).
    """
    if rule not in MC_RULES:
        raise ValueError(f"rule must be one of {', '.join(MC_RULES)}, got {rule!r}.")
    x = to_classifier_input(images)
    if rule == "one_pass":
        probs = _one_pass(model, x, batch)
        return probs, np.zeros_like(probs), np.ones(len(x), np.int32)
    if passes < 2:
        raise ValueError(f"{passes} MC pass gives no SD, so the ambiguity rule would call every image clear: "
                         "use at least 2 passes.")
    if rule == "fixed":
        return (*_fixed(model, x, passes, batch), np.full(len(x), passes, np.int32))
    blocks = [slice(i, i + IMAGES_PER_BLOCK) for i in range(0, len(x), IMAGES_PER_BLOCK)]
    parts = [_adaptive(model, trunk_output(model, x[block], batch) if trunk is None else trunk[block], passes, batch,
                       round_passes, max(2, min_passes)) for block in blocks]
    return tuple(np.concatenate(p) for p in zip(*parts)) if parts else _empty(model)


def _empty(model):
    classes = model.output.shape[-1]
    return np.zeros((0, classes), np.float32), np.zeros((0, classes), np.float32), np.zeros(0, np.int32)


def _fixed(model, x, passes, batch):
    statistics = mc_model(model, passes, per_pass=False)
    per_call = max(1, batch // passes)
    means, sds = [], []
    for start in range(0, len(x), per_call):
        chunk = x[start : start + per_call]
        mean, sd = statistics.predict_on_batch(on_devices(split_evenly(chunk)))
        means.append(np.asarray(mean)[: len(chunk)])
        sds.append(np.asarray(sd)[: len(chunk)])
    if not means:
        return _empty(model)[:2]
    return np.concatenate(means), np.concatenate(sds)


def _one_pass(model, x, batch):
    """Each image once through ``model`` with every MCDropout off: (N, classes) probabilities."""
    single = deterministic(model)
    parts = [np.asarray(single.predict_on_batch(on_devices(split_evenly(x[i : i + batch]))))[: len(x[i : i + batch])]
             for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else _empty(model)[0]


_DETERMINISTIC = weakref.WeakKeyDictionary()


def deterministic(model):
    """``without_mc_dropout(model)``, kept per model (its weights copied again at each call)."""
    if model not in _DETERMINISTIC:
        _DETERMINISTIC[model] = without_mc_dropout(model)
    _DETERMINISTIC[model].set_weights(model.get_weights())
    return _DETERMINISTIC[model]


def without_mc_dropout(model, dtype=None):
    """A copy of ``model`` (its own layers, the weights' values copied) with every MCDropout an
    identity; every layer computing in ``dtype`` where one is given."""
    def copy(layer):
        if isinstance(layer, MCDropout):
            return layers.Identity(name=layer.name)
        config = layer.get_config()
        return layer.__class__.from_config({**config, "dtype": dtype} if dtype else config)

    clone = keras.models.clone_model(model, clone_function=copy)
    clone.set_weights(model.get_weights())
    return clone


def trunk_output(model, x, batch=512):
    """The output of ``model``'s layers before the first dropout on classifier inputs ``x``, ``batch``
    rows a call (every call full: one shape)."""
    return predict_in_full_calls(split_at_first_dropout(model)[0], x, batch)


def _adaptive(model, x, passes, batch, round_passes, min_passes):
    """Sequential passes over the images whose ``trunk_output`` is ``x``; see ``mc_predict``. The
    layers before the first dropout ran once per image, not once per round: the rounds start from
    their output."""
    def next_passes(rows, done, count):
        round_model, per_call = mc_model(model, count, per_pass=True, from_trunk=True), max(1, batch // count)
        out = np.zeros((len(rows), count, model.output.shape[-1]), np.float32)
        for start in range(0, len(rows), per_call):
            chunk = rows[start : start + per_call]
            padded = split_evenly(np.resize(chunk, call_size(len(chunk), per_call)))  # the padding is thrown away
            out[start : start + len(chunk)] = np.asarray(round_model.predict_on_batch(on_devices(x[padded])))[
                : len(chunk)]
        return out

    return sequential(next_passes, len(x), model.output.shape[-1], passes, round_passes, min_passes)


def call_size(n, per_call):
    """Images in the call that gives ``n`` images (at most ``per_call``) their passes: ``per_call`` where they
    fill it, else the next power of two, ``MIN_CALL_IMAGES`` at least. Late in the rounds few images are
    still going: padded to full calls, a third of 02's rows were padding; a few sizes keep the compiled calls few."""
    return min(per_call, max(MIN_CALL_IMAGES, 1 << (n - 1).bit_length()))


def sequential(next_passes, n, classes, passes, round_passes, min_passes, z=SETTLED_Z, clear_z=CLEAR_Z,
               futility_passes=0):
    """The adaptive rule over ``n`` images whose passes come from ``next_passes(rows, done, count)``:
    (len(rows), count, classes) probabilities of passes ``done`` to ``done + count`` of images
    ``rows`` -> ``(mean, sd, used)``, as ``mc_predict``; ``z`` and ``clear_z`` as ``settled``'s.
    ``futility_passes`` (0: never): from that many passes on, an image also stops once its
    verdict could not settle even at the cap: its means and SDs so far, with the cap's SEs,
    settle neither way (its verdict is then the one its passes so far give). Only
    bench/bench_adaptive_mc.py uses it: it moves verdicts beyond the 100-pass noise floor."""
    probs = np.zeros((n, passes, classes), np.float32)
    used = np.zeros(n, np.int32)
    going = np.arange(n)
    done = 0  # every image still going has had ``done`` passes
    while len(going):
        count = min(round_passes, passes - done)
        probs[going, done : done + count] = next_passes(going, done, count)
        done += count
        used[going] = done
        if done >= passes:
            break
        if done >= min_passes:
            so_far = probs[going, :done]
            stop = settled(so_far, z, clear_z)
            if futility_passes and done >= futility_passes:
                stop |= ~settled(so_far, z, clear_z, n=passes)
            going = going[~stop]
    mean, sd = np.zeros((n, classes), np.float32), np.zeros((n, classes), np.float32)
    for count in np.unique(used):
        rows = used == count
        mean[rows] = probs[rows, :count].mean(axis=1)
        sd[rows] = probs[rows, :count].std(axis=1)
    return mean, sd, used


def settled(probs, z=SETTLED_Z, clear_z=CLEAR_Z, n=None):
    """Is each image's verdict decided by its passes so far? ``probs`` (N, n, classes) -> (N,) bool.
    ``n``: the passes the SEs are taken at (default: those given; more asks whether the same
    means and SDs would settle after ``n`` passes).

    The verdict (``ambiguity``) compares ``mean[top] - 2 sd[top]`` with ``mean[challenger] +
    2 sd[challenger]``; the n passes estimate both. Two ways to be settled:

    - *Clear*, even in the worst case its passes allow: each of the two classes' means moved
      ``clear_z`` standard errors towards the other, and each SD the largest a pass
      probability in [0, 1] with that mean can have, sqrt(m (1 - m)) (every pass all or
      nothing; SEs at that SD too). A few passes can miss a rare pass that flips the
      image to another class; the worst-case SD stands in for the flips not yet seen.
    - *Ambiguous*, by a margin: the gap ``g = (mean[top] - 2 sd[top]) - (mean[challenger] +
      2 sd[challenger])`` is at most ``-z`` standard errors, and the top class's lead
      ``mean[top] - mean[challenger]`` at least ``z`` of its own. SEs by the delta method:
      each pass's influence, ``p - mean`` on a mean and ``((p - mean)**2 - sd**2) / (2 sd)``
      on an SD; SE = RMS influence / sqrt(n).

    Either way the settled verdict is the one the passes so far give.
    """
    probs = np.asarray(probs, np.float64)
    n = n or probs.shape[1]
    mean, sd = probs.mean(axis=1), probs.std(axis=1)
    order = np.argsort(-mean, axis=1, kind="stable")
    rows = np.arange(len(probs))
    top, challenger = order[:, 0], order[:, 1]

    def worst(m, towards):
        return np.clip(m + towards * clear_z * np.sqrt(m * (1 - m) / n), 0, 1)

    m_top, m_challenger = worst(mean[rows, top], -1), worst(mean[rows, challenger], +1)
    clear = m_top - 2 * np.sqrt(m_top * (1 - m_top)) > m_challenger + 2 * np.sqrt(m_challenger * (1 - m_challenger))

    p_top, p_challenger = probs[rows, :, top], probs[rows, :, challenger]  # (N, n)
    m_top, m_challenger = mean[rows, top][:, None], mean[rows, challenger][:, None]
    s_top, s_challenger = sd[rows, top][:, None], sd[rows, challenger][:, None]
    lead_influence = (p_top - m_top) - (p_challenger - m_challenger)
    gap_influence = lead_influence - 2 * (_sd_influence(p_top, m_top, s_top)
                                          + _sd_influence(p_challenger, m_challenger, s_challenger))
    se_gap, se_lead = (np.sqrt(np.mean(np.square(i), axis=1) / n) for i in (gap_influence, lead_influence))
    gap = (m_top - 2 * s_top - m_challenger - 2 * s_challenger)[:, 0]
    lead = (m_top - m_challenger)[:, 0]
    return clear | ((gap <= -z * se_gap) & (lead >= z * se_lead))


def _sd_influence(p, mean, sd):
    """Each pass's influence on a population SD: ((p - mean)**2 - sd**2) / (2 sd); 0 where sd is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, (np.square(p - mean) - np.square(sd)) / (2 * sd), 0.0)


class RepeatEach(layers.Layer):
    """(N, ...) -> (N * passes, ...): each row ``passes`` times in a row."""

    def __init__(self, passes, **kwargs):
        super().__init__(**kwargs)
        self.passes = passes

    def call(self, x):
        return ops.repeat(x, self.passes, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


class PerPass(layers.Layer):
    """(N * passes, classes) -> (N, passes, classes): each image's passes on one row."""

    def __init__(self, passes, **kwargs):
        super().__init__(**kwargs)
        self.passes = passes

    def call(self, probs):
        return ops.reshape(probs, (-1, self.passes, probs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.passes, input_shape[-1])


class PassStatistics(layers.Layer):
    """(N, passes, classes) -> [mean, population SD], each (N, classes), over each row's passes."""

    def call(self, probs):
        mean = ops.mean(probs, axis=1)
        return [mean, ops.sqrt(ops.mean(ops.square(probs - mean[:, None, :]), axis=1))]

    def compute_output_shape(self, input_shape):
        return [(None, input_shape[-1]), (None, input_shape[-1])]


_MC_MODELS = weakref.WeakKeyDictionary()


def mc_model(model, passes, per_pass, from_trunk=False):
    """image -> each image's ``passes`` passes (N, passes, classes) if ``per_pass``, else
    [MC mean, MC SD]; from the output of the layers before the first dropout instead of the
    image if ``from_trunk``. Shares ``model``'s layers and is cached, so it compiles once."""
    cache = _MC_MODELS.setdefault(model, {})
    if (passes, per_pass, from_trunk) not in cache:
        trunk, head = split_at_first_dropout(model)
        given = keras.Input(trunk.output.shape[1:] if from_trunk else model.input.shape[1:])
        outputs = PerPass(passes)(head(RepeatEach(passes)(given if from_trunk else trunk(given))))
        outputs = outputs if per_pass else PassStatistics()(outputs)
        cache[passes, per_pass, from_trunk] = keras.Model(given, outputs, name=f"{model.name}_mc{passes}")
    return cache[passes, per_pass, from_trunk]


def reseed_dropout(model, seed):
    """Restart every MCDropout's random stream at ``seed``, so the verdicts on a batch
    depend on ``seed`` alone, not on how many calls came before (e.g. in a resumed run)."""
    layers_with_masks = [layer for layer in model.layers if getattr(layer, "seed_generator", None) is not None]
    for i, layer in enumerate(layers_with_masks):  # (a rate-0 dropout draws no masks and has no stream)
        # state = [seed, counter]; each call adds 1 to the counter, so layers start 2**24 calls apart
        state = layer.seed_generator.state
        state.assign(np.array([seed % 2**31, i << 24], dtype=state.dtype))


_SPLITS = weakref.WeakKeyDictionary()


def split_at_first_dropout(model):
    """``(trunk, head)`` sharing ``model``'s layers: ``trunk`` runs up to the first MCDropout,
    ``head`` from there on (cached per model, so each is compiled once)."""
    if model not in _SPLITS:
        first = next((layer for layer in model.layers if isinstance(layer, MCDropout)), None)
        if first is None:
            raise ValueError(f"{model.name} has no MCDropout layer: its MC passes would all be equal.")
        _SPLITS[model] = (keras.Model(model.input, first.input), keras.Model(first.input, model.output))
    return _SPLITS[model]
