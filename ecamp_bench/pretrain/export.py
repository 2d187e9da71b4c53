"""Getting weights in and out: initialise from a local MAE/timm checkpoint; export the encoder as a backbone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ecamp_bench.errors import CheckpointError
from ecamp_bench.models.checkpoints import BackboneMeta, load_state_dict_file, save_backbone_file
from ecamp_bench.models.ecamp import ECAMP

# MAE checkpoint keys of the decoder side keep their names in our model; everything else is the encoder.
_DECODER_PREFIXES = ("decoder_embed.", "decoder_blocks.", "decoder_norm.", "decoder_pred.")
_DECODER_KEYS = ("mask_token",)
_SKIPPED = ("decoder_pos_embed",)  # fixed sin-cos buffer, rebuilt by the model


@dataclass
class InitReport:
    """What :func:`init_from_checkpoint` loaded: key lists per outcome."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model keys (encoder/decoder) the file lacks
    unexpected: list[str] = field(default_factory=list)  # file keys with no place in the model

    def summary(self) -> str:
        """One line: counts plus the first few missing/unexpected keys."""
        head = lambda keys: ", ".join(keys[:5]) + (" …" if len(keys) > 5 else "")  # noqa: E731
        return (f"loaded {len(self.loaded)} tensors; missing {len(self.missing)} [{head(self.missing)}]; "
                f"unexpected {len(self.unexpected)} [{head(self.unexpected)}]")


def init_from_checkpoint(model: ECAMP, path: Path) -> InitReport:
    """Load the encoder (timm/MAE ViT names) and, if present, the MAE decoder from a local weight file.

    Read with ``torch.load(weights_only=True)`` or safetensors. Shapes must match (:class:`CheckpointError`
    otherwise); a file that matches no encoder key at all is refused. Unmatched keys are reported.
    """
    state = load_state_dict_file(Path(path))
    own = model.state_dict()
    report, updates = InitReport(), {}
    for key, tensor in state.items():
        if key in _SKIPPED:
            continue
        target = key if key.startswith(_DECODER_PREFIXES) or key in _DECODER_KEYS else f"encoder.{key}"
        if target not in own:
            report.unexpected.append(key)
            continue
        if tuple(own[target].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{path}: key '{key}' has shape {tuple(tensor.shape)}, the model expects "
                                  f"{tuple(own[target].shape)} (different architecture?)")
        updates[target] = tensor
        report.loaded.append(key)
    if not any(k.startswith("encoder.") for k in updates):
        raise CheckpointError(f"{path}: no ViT encoder weights found (keys like 'blocks.0.attn.qkv.weight')")
    wanted = [k for k in own if k.startswith("encoder.") or k.startswith(_DECODER_PREFIXES) or k in _DECODER_KEYS]
    report.missing = sorted(k for k in wanted if k not in updates)
    model.load_state_dict(updates, strict=False)
    return report


def export_backbone(model: ECAMP, path: Path, *, mean: float, std: float, origin: str, config_sha256: str,
                    extra: dict | None = None) -> Path:
    """Write the encoder as a backbone file loadable by ``timm.create_model(arch, num_classes=0, **kwargs)``.

    The file is a function of the weights and the config alone: no wall-clock time, run folder or probe history
    goes into it (that varies with the folder, with interruptions and resumes; :func:`write_export_provenance`
    puts it in the run folder), so the same config, seed and data give a byte-identical file, and so the same
    weights sha256 in every result record, whether the run was resumed or written to another folder.
    """
    cfg = model.cfg
    meta = BackboneMeta(
        arch=cfg.arch, model_kwargs=model.encoder_model_kwargs(), img_size=cfg.img_size, patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim, depth=cfg.depth, mean=(mean,) * 3, std=(std,) * 3, origin=origin,
        config_sha256=config_sha256, extra=dict(extra or {}),
    )
    return save_backbone_file(Path(path), model.encoder_state_dict(), meta, stamp_time=False)


EXPORT_PROVENANCE = "export.json"


def write_export_provenance(run_dir: Path, backbone: Path, extra: dict | None = None) -> Path:
    """``<run_dir>/export.json``: the exported file's path and sha256, the run folder, and ``extra`` (the probe log).

    What varies between runs of the same weights lives here, not in the weights file.
    """
    from ecamp_bench.atomic import atomic_write_json
    from ecamp_bench.models.checkpoints import weights_sha256

    document = {"backbone": str(backbone), "weights_sha256": weights_sha256(Path(backbone)),
                "run_dir": str(run_dir), **dict(extra or {})}
    return atomic_write_json(Path(run_dir) / EXPORT_PROVENANCE, document)
