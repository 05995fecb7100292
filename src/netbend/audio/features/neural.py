"""Neural features: EnCodec embeddings per frame, reduced to d dimensions (t-SNE or PCA)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import NetbendError
from . import register

if TYPE_CHECKING:
    from . import Analysis

DEFAULT_ENCODEC = "facebook/encodec_48khz"


def load_encodec(source: str) -> Any:
    """An EnCodec model: ``"tiny"`` (built in code, offline), a Hugging Face id or a local folder."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    if source == "tiny":
        config = EncodecConfig(
            sampling_rate=48000, audio_channels=2, num_filters=4, hidden_size=32, num_residual_layers=1,
            upsampling_ratios=[8, 5, 4, 2], codebook_size=16, codebook_dim=32, num_lstm_layers=1,  # d=16 fits
            target_bandwidths=[1.5, 3.0], normalize=True, chunk_length_s=None, overlap=None,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = EncodecModel(config).eval()
            _seed_codebooks(model)
            return model
    try:
        return EncodecModel.from_pretrained(source).eval()
    except Exception as e:  # hub and file errors all mean "this model cannot be used"
        reason = " ".join(str(e).split())[:160]
        raise NetbendError(
            f"cannot load EnCodec model {source!r}: {reason} -- download it where there is internet "
            f"(`hf download {DEFAULT_ENCODEC} --local-dir DIR`) and pass encodec:model=DIR"
        ) from e


def _seed_codebooks(model) -> None:
    """Codebooks are buffers, all zero until trained. Fill each residual stage with latent
    frames of a seeded test signal (k-means' usual starting point), so that the tiny model's
    codes tell sounds apart."""
    import torch

    sr = model.config.sampling_rate
    t = torch.arange(sr) / sr
    signal = torch.sin(2 * torch.pi * 220 * t * (1 + t)) * (t * 8 % 1) + 0.3 * torch.randn(sr)
    with torch.no_grad():
        residual = model.encoder(signal.expand(1, model.config.audio_channels, -1))[0].T  # (T, D)
        for layer in model.quantizer.layers:
            book = layer.codebook.embed
            book.copy_(residual[torch.randperm(len(residual))[: len(book)]])
            nearest = torch.cdist(residual, book).argmin(dim=1)
            residual = residual - book[nearest]


def encodec_embeddings(analysis: Analysis, model_source: str, representation: str = "codes") -> np.ndarray:
    """One embedding per video frame, averaged over the frame's slice: (n_frames, D).

    ``codes``: the quantised code vectors (the paper reduces these); ``latent``: the
    encoder's continuous output. The song is encoded in the model's chunks (1 s for the 48
    kHz model; 10 s if it has none), each scaled to unit RMS first when the model normalises
    its input as in training, mono duplicated to stereo, at the model's sample rate.
    """
    import torch

    from .pooling import pool

    model = load_encodec(model_source)
    sr_model = model.config.sampling_rate
    y = analysis.audio.mono
    if analysis.audio.sr != sr_model:
        import librosa

        y = librosa.resample(y, orig_sr=analysis.audio.sr, target_sr=sr_model)
    if representation not in ("codes", "latent"):
        raise NetbendError(f"encodec: repr must be codes or latent, got {representation!r}")
    hop = int(np.prod(model.config.upsampling_ratios))  # samples per latent frame
    seconds = model.config.chunk_length_s or 10.0
    chunk = hop * max(1, int(seconds * sr_model) // hop)
    bandwidth = max(model.config.target_bandwidths)
    frames = []
    with torch.no_grad():
        for start in range(0, len(y), chunk):
            piece = torch.as_tensor(y[start:start + chunk], dtype=torch.float32)
            if model.config.normalize:
                piece = piece / (piece.square().mean().sqrt() + 1e-8)
            stereo = piece.expand(1, model.config.audio_channels, -1)  # (1, channels, n)
            latent = model.encoder(stereo)  # (1, D, T)
            if representation == "codes":
                latent = model.quantizer.decode(model.quantizer.encode(latent, bandwidth))
            frames.append(latent[0].numpy())
    latent = np.concatenate(frames, axis=1)  # (D, T), frame t covers samples from t * hop
    return pool(latent, hop, n_frames=analysis.n_frames, fps=analysis.fps, sr=sr_model)  # (n_frames, D)


def reduce_dims(x: np.ndarray, d: int, method: str, seed: int = 0) -> np.ndarray:
    """(n, D) -> (n, d) by ``"tsne"`` (exact, perplexity 15 as in the paper) or ``"pca"``."""
    n = len(x)
    if d > x.shape[1]:
        raise NetbendError(f"encodec: d={d} is more than the embedding's {x.shape[1]} dimensions "
                           "(d=6 drives rotate_six, d=16 matrix)")
    if method == "pca":
        from sklearn.decomposition import PCA

        if d > n:
            raise NetbendError(f"encodec: pca needs d <= the number of frames ({n}), got d={d}")
        return PCA(n_components=d, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = 15.0
        if n <= perplexity:
            raise NetbendError(f"encodec: t-SNE with perplexity 15 needs more than 15 frames, got {n}")
        return TSNE(n_components=d, method="exact", perplexity=perplexity, random_state=seed, init="random").fit_transform(x)
    raise NetbendError(f"encodec: reduce must be tsne or pca, got {method!r}")


@register("encodec", "EnCodec code vectors per frame reduced to d dims (tsne|pca; d=16 -> matrix, d=6 -> "
          "rotate_six); model: id, folder or tiny; repr: codes|latent", d=16, reduce="tsne", model=DEFAULT_ENCODEC,
          repr="codes")
def encodec(analysis: Analysis, d: int, reduce: str, model: str, repr: str) -> np.ndarray:
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise NetbendError(f"encodec: d must be a positive integer, got {d!r}")
    key = ("encodec", model, repr)
    if key not in analysis.cache:
        analysis.cache[key] = encodec_embeddings(analysis, str(model), repr)
    return reduce_dims(analysis.cache[key], d, reduce)
