"""Figures: sample grids, loss curves, galleries (matplotlib, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from models.files import save_figure, write_csv  # noqa: E402

GRID_GAP = 2  # white pixels between the images of a grid


def image_grid(images, ncols=10, title=None, row_labels=None):
    """uint8 images (N, 28, 28) laid out in rows of ``ncols``, white between them; returns the
    figure. One picture on one axes: far quicker to draw than an axes per image."""
    images = np.asarray(images)
    n, size = len(images), images.shape[1]
    nrows, cell = max(1, -(-n // ncols)), size + GRID_GAP
    canvas = np.full((nrows * cell - GRID_GAP, ncols * cell - GRID_GAP), 255, np.uint8)
    for i, image in enumerate(images.reshape(n, size, -1)):
        row, col = divmod(i, ncols)
        canvas[row * cell : row * cell + size, col * cell : col * cell + size] = image
    height = nrows * 0.8 + (0.4 if title else 0)
    fig = plt.figure(figsize=(ncols * 0.8, height))
    ax = fig.add_axes((0, 0, 1, 1 - 0.45 / height if title else 1))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    for row, label in enumerate(row_labels if row_labels is not None else []):
        ax.text(-GRID_GAP, row * cell + size / 2, str(label), ha="right", va="center", fontsize=12)
    if title:
        fig.suptitle(title, y=1 - 0.1 / height)
    return fig


def loss_curves(history, title=None, accuracy_title="discriminator accuracy"):
    """Per-epoch losses (left) and accuracies (right) from a training history."""
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.5))
    ax_fid = None  # 01's selection FID, on its own scale at the right of the losses
    for key in dict.fromkeys(key for row in history for key in row):  # a metric may start late, or skip epochs
        if key in ("epoch", "seconds"):
            continue
        if "fid" in key:
            ax_fid = ax_fid or ax_loss.twinx()
            ax_fid.set_ylabel(key)
        ax = ax_fid if "fid" in key else ax_acc if "acc" in key else ax_loss
        rows = [row for row in history if key in row]
        ax.plot([row["epoch"] for row in rows], [row[key] for row in rows],
                marker="o" if len(rows) < 30 or len(rows) < len(history) else None, label=key,
                **({"color": "black", "linestyle": "--"} if "fid" in key else {}))
    if ax_fid:
        ax_fid.legend(fontsize=8, loc="upper center")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="losses")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=accuracy_title, ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        if len(epochs) == 1:  # else the locator spans 0.95-1.05 and falls back to fractions
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def ambiguity_gallery(images, mean, sd, labels, passes=None, n_bars=3, pairs_per_row=2, title=None):
    """Each ambiguous image beside its top ``n_bars`` classes' MC mean with +-2 SD bars (and the
    number of MC passes behind them, where ``passes`` is given)."""
    n = len(images)
    nrows = int(np.ceil(n / pairs_per_row))
    fig, axes = plt.subplots(nrows, 2 * pairs_per_row, figsize=(5 * pairs_per_row, 1.2 * nrows + 0.6),
                             squeeze=False, gridspec_kw={"width_ratios": [1, 2.5] * pairs_per_row})
    for i, (ax_img, ax_bar) in enumerate(zip(axes.flat[::2], axes.flat[1::2])):
        if i >= n:
            ax_img.axis("off")
            ax_bar.axis("off")
            continue
        ax_img.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_ylabel(f"made as {labels[i]}", fontsize=8)
        top = np.argsort(-mean[i])[:n_bars]
        y = np.arange(n_bars)[::-1]
        ax_bar.barh(y, mean[i][top], xerr=2 * sd[i][top], color=["tab:blue", "tab:orange", "tab:gray"][:n_bars],
                    capsize=3)
        ax_bar.set_yticks(y, [str(c) for c in top], fontsize=8)
        if passes is not None:
            ax_bar.set_title(f"{passes[i]} passes", fontsize=7, loc="right", pad=2)
        ax_bar.set_xlim(0, 1.05)
        ax_bar.tick_params(axis="x", labelsize=7)
    for ax in axes[-1, 1::2]:
        ax.set_xlabel("MC mean, bars +-2 SD", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_chart(values, labels, ylabel, title=None, xlabel="class"):
    """One bar per label (e.g. the ambiguity rate per digit), its share written above it."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([str(label) for label in labels], values, color="tab:orange")
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.1%}", ha="center", va="bottom", fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_matrix(matrix, title=None):
    """Counts (true class x predicted class), coloured by each row's share, with the counts written in."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(0.55 * n + 1.5, 0.55 * n + 1))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.tight_layout()
    return fig


def captioned_grid(images, captions, ncols=10, title=None):
    """uint8 images (N, 28, 28) in rows of ``ncols``, each with a short caption above it."""
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9, nrows * 1.05 + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(captions[i], fontsize=8, pad=2)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def epoch_reporter(out_dir, title, sample, sample_every, epochs, ncols=10, row_labels=None):
    """An ``on_epoch_end`` for a training loop: rewrites ``losses.csv`` in ``out_dir`` every
    epoch, and ``loss_curve.png`` and ``samples_epoch_NNN.png`` (from ``sample()``, uint8
    images) every ``sample_every`` epochs and at the last. (Drawing the curve takes about
    0.17 s on 2 CPU cores, a fifth of a per-digit epoch on an H200: not every epoch.)"""
    def on_epoch_end(epoch, history):
        write_csv(out_dir / "losses.csv", history)
        if epoch % sample_every == 0 or epoch == epochs:
            save_figure(loss_curves(history, title=title), out_dir / "loss_curve.png")
            grid = image_grid(sample(), ncols, title=f"{title}, epoch {epoch}", row_labels=row_labels)
            save_figure(grid, out_dir / f"samples_epoch_{epoch:03d}.png")

    return on_epoch_end


def slide_figure(images, mean, sd, pairs, mixes, title=None):
    """One row per class pair: images (P, S, 28, 28) drawn at mixes (P, S) from class a (0) to b (1),
    each above the verifier's MC mean of a and b with +-2 SD bars (mean, sd: (P, S, classes))."""
    n_pairs, steps = np.asarray(images).shape[:2]
    fig, axes = plt.subplots(2 * n_pairs, steps, figsize=(steps * 0.95, n_pairs * 2.0 + 0.5), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 0.8] * n_pairs})
    for p, (a, b) in enumerate(pairs):
        for s in range(steps):
            ax_img, ax_bar = axes[2 * p, s], axes[2 * p + 1, s]
            ax_img.imshow(images[p][s], cmap="gray", vmin=0, vmax=255)
            ax_img.set_xticks([])
            ax_img.set_yticks([])
            ax_img.set_title(f"t={mixes[p][s]:.2f}", fontsize=7, pad=2)
            ax_bar.bar([0, 1], mean[p][s][[a, b]], yerr=2 * sd[p][s][[a, b]], color=["tab:blue", "tab:orange"],
                       capsize=2, width=0.7)
            ax_bar.set_xticks([0, 1], [str(a), str(b)], fontsize=7)
            ax_bar.set_ylim(0, 1.1)
            ax_bar.tick_params(axis="y", labelsize=6)
            if s:
                ax_bar.set_yticklabels([])
        axes[2 * p, 0].set_ylabel(f"{a} to {b}", fontsize=9)
    fig.suptitle(title or "between two classes: AC-GAN label mix t, verifier MC mean +-2 SD", fontsize=9)
    fig.tight_layout()
    return fig


def curves(lines, xlabel, ylabel, title=None, log_y=False, diagonal=False, marked=None, xlim=None):
    """One line per ``{name: (x, y)}``; ``diagonal`` draws y = x (a reliability diagram's ideal),
    ``marked = (x, y, text)`` a point to point out (e.g. the shipped setting), ``log_y`` a
    log y axis, linear below 1e-4 (or below ``log_y`` if a number: 1 for counts), ``xlim`` the
    x range shown (the y range follows the points inside it)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (x, y) in lines.items():
        ax.plot(x, y, marker="o" if len(x) <= 20 else None, markersize=3, label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="ideal")
    if marked:
        ax.plot(marked[0], marked[1], marker="*", markersize=14, color="black", linestyle="none", label=marked[2])
    if log_y:
        ax.set_yscale("symlog", linthresh=1e-4 if log_y is True else log_y)
    if xlim:
        ax.set_xlim(*xlim)
        inside = [v for x, y in lines.values() for u, v in zip(x, y) if xlim[0] <= u <= xlim[1]]
        if inside:
            ax.set_ylim(min(inside), max(inside) * 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
