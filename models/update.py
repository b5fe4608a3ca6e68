"""One optimizer step on an explicit list of variables, compiled for the active backend,
and several such steps in one compiled call.

The losses are ordinary stateful Keras code. ``make_update`` wraps one in a
``tf.GradientTape`` step inside ``tf.function`` (TensorFlow), or in a jitted, stateless
JAX step that threads every variable through ``keras.StatelessScope`` (JAX). The loss's
metrics go into ``keras.metrics.Mean`` trackers inside the same compiled call, so they
stay on the device until someone reads them: no host sync per step. ``compile_calls``
compiles a function that makes such updates, so a run of them is one call.
"""

import keras


def make_update(loss_fn, variables, optimizer, state_variables, trackers, after=None):
    """Return ``update(*args)``: one ``optimizer`` step on ``variables`` down
    ``loss_fn(*args) -> (loss, metrics)``, each metric added to ``trackers[name]`` (a
    ``keras.metrics.Mean``), then ``after()`` (if given) in the same compiled call.

    ``state_variables`` are all other variables ``loss_fn`` or ``after`` read or write (the
    other network's weights, BatchNorm statistics, dropout seeds, the trackers', G's
    average): the JAX step threads them through explicitly instead of baking them in as
    constants.
    """
    backend = keras.backend.backend()

    def tracked_loss(*args):
        loss, metrics = loss_fn(*args)
        for name, value in metrics.items():
            trackers[name].update_state(value)
        return loss

    if backend == "tensorflow":
        return _tensorflow_update(tracked_loss, variables, optimizer, after)
    if backend == "jax":
        return _jax_update(tracked_loss, variables, optimizer, state_variables, after)
    raise NotImplementedError(
        f"GAN training runs on the tensorflow and jax backends, not {backend!r}: set KERAS_BACKEND."
    )


def _tensorflow_update(loss_fn, variables, optimizer, after):
    import tensorflow as tf

    @tf.function
    def update(*args):
        with tf.GradientTape() as tape:
            loss = loss_fn(*args)
        optimizer.apply(tape.gradient(loss, variables), variables)
        if after is not None:
            after()

    return update


def _jax_update(loss_fn, variables, optimizer, state_variables, after):
    import jax

    def stateless_loss(values, state_values, args):
        mapping = list(zip(variables, values)) + list(zip(state_variables, state_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss = loss_fn(*args)
        return loss, [scope.get_current_value(v) for v in state_variables]

    @jax.jit
    def step(values, state_values, optimizer_values, args):
        (_, state_values), grads = jax.value_and_grad(stateless_loss, has_aux=True)(values, state_values, args)
        values, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, values)
        if after is not None:
            mapping = list(zip(variables, values)) + list(zip(state_variables, state_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                after()
            state_values = [scope.get_current_value(v) for v in state_variables]
        return values, state_values, optimizer_values

    def update(*args):
        groups = (variables, state_variables, optimizer.variables)
        new_values = step(*([v.value for v in group] for group in groups), args)
        for group, values in zip(groups, new_values):
            for variable, value in zip(group, values):
                variable.assign(value)

    return update


def input_gradient(fn, x):
    """The gradient of the scalar ``fn(x)`` with respect to ``x``, itself differentiable (for a
    penalty on it inside a loss that ``make_update`` differentiates). ``fn`` must not write
    any variable (call layers with ``training=False``): under JAX it runs in a trace of its own."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x)
    if backend == "jax":
        import jax

        return jax.grad(fn)(x)
    raise NotImplementedError(f"GAN training runs on the tensorflow and jax backends, not {backend!r}.")


def compile_calls(fn, state_variables):
    """Return ``fn`` compiled: one call runs every update it makes (``make_update``'s, on the
    same backend). ``state_variables``: every variable those updates read or write, the
    optimizers' included (JAX threads them through; TensorFlow needs no list)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if backend != "jax":
        raise NotImplementedError(f"GAN training runs on the tensorflow and jax backends, not {backend!r}.")
    import jax

    @jax.jit
    def stateless_fn(state_values, args):
        with keras.StatelessScope(state_mapping=list(zip(state_variables, state_values))) as scope:
            fn(*args)  # each update reads its variables from the scope and assigns its results there
        return [scope.get_current_value(v) for v in state_variables]

    def call(*args):
        new_values = stateless_fn([v.value for v in state_variables], args)
        for variable, value in zip(state_variables, new_values):
            variable.assign(value)

    return call
