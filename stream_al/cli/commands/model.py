"""``stream-al model export|import``: the newest checkpoint to a model file, and back."""

from __future__ import annotations

import argparse

from stream_al.cli import report
from stream_al.config import Settings
from stream_al.errors import CheckpointError, ConfigurationError, ModelFileError

__all__ = ["cmd_model"]


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.io.model_file import export_checkpoint, import_checkpoint
    from stream_al.io.redis import store_for

    if settings.checkpoint.key is None:
        raise ConfigurationError(
            "STREAM_AL_CHECKPOINT__KEY is not set: model files are signed with the "
            "checkpoint key (the one serve uses)"
        )
    key = settings.checkpoint.key.get_secret_value().encode()
    replica = args.replica or settings.service.replica_id
    store = store_for(settings, replica)
    where = f"Redis prefix {settings.redis.prefix!r}"
    try:
        if args.action == "export":
            report.print_export(export_checkpoint(store, args.out, key), where, args.out)
        else:
            done = import_checkpoint(store, args.path, key, replica, force=args.force)
            report.print_import(done, args.path, where)
    except (ModelFileError, CheckpointError, OSError) as exc:
        raise ConfigurationError(str(exc)) from None
    return 0
