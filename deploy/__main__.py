"""``python -m deploy``: build the zip, then deploy the action, its Secret Manager trigger
(one trigger for the whole list of secrets) and each secret's auto rotation. ``--dry-run``
prints the plan and changes nothing; a second run with nothing changed changes nothing and
says so. A secret dropped from the list stays linked unless ``--prune`` is given.

Exit codes: 0 done (or nothing to do), 1 a step failed, 2 bad configuration (a typo'd key,
an endpoint that is not https, action parameters the handler would refuse for a secret):
nothing was written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from deploy.config import ConfigError, load
from deploy.package import PackageError, build_package
from deploy.steps import Deployer, DeployError
from rotation import logs
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.secretmanager import SecretManagerClient


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, help="a TOML file like deploy/config.example.toml")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--prune", action="store_true",
                   help="unlink secrets the trigger serves that the configuration no longer "
                        "names (their auto rotation is turned off first)")  # fmt: skip
    p.add_argument("--zip", dest="zip_path", type=Path,
                   help="deploy this zip instead of building dist/rotation-action.zip")  # fmt: skip
    p.add_argument("--secret-name", dest="secret_names", action="append",
                   help="a secret to rotate (repeatable); replaces the file's list")  # fmt: skip
    p.add_argument("--secret-id", dest="secret_ids", action="append",
                   help="a secret to rotate, by id (repeatable)")  # fmt: skip
    p.add_argument("--period", dest="rotation_period", type=int,
                   help="days, 1-730, for every secret that does not set its own")  # fmt: skip
    p.add_argument("--package")
    p.add_argument("--action")
    p.add_argument("--trigger")
    p.add_argument("--timeout-ms", type=int)
    p.add_argument("--memory-mb", type=int)
    p.add_argument("--vpc-no", type=int)
    p.add_argument("--subnet-no", type=int)
    p.add_argument("--cloud-functions-endpoint")
    p.add_argument("--secret-manager-endpoint")
    return p


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    logs.configure("WARNING")
    opts = _parser().parse_args(argv)
    flags = {k: v for k, v in vars(opts).items() if k not in ("config", "dry_run", "prune")}
    prebuilt = flags.get("zip_path") is not None
    try:
        config = load(opts.config, flags)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    logs.REDACTOR.register(config.credentials.secret_key)
    logs.REDACTOR.register(config.action_credentials.secret_key)
    try:
        if prebuilt:
            zip_bytes = config.zip_path.read_bytes()
        else:
            result = build_package(out=config.zip_path.resolve())
            zip_bytes = result.path.read_bytes()
    except (OSError, PackageError) as exc:
        sys.stderr.write(f"error: step package failed: {exc}\n")
        return 1
    functions = CloudFunctionsClient(config.credentials, endpoint=config.cloud_functions_endpoint)
    secrets = SecretManagerClient(config.credentials, endpoint=config.secret_manager_endpoint)
    try:
        Deployer(
            config, zip_bytes, functions=functions, secrets=secrets, out=stream,
            dry_run=opts.dry_run, prune=opts.prune,
        ).run()  # fmt: skip
    except ConfigError as exc:  # the action's parameters, refused for a secret (validate.py)
        sys.stderr.write(f"error: {logs.REDACTOR.scrub(str(exc))}\n")
        return 2
    except DeployError as exc:
        sys.stderr.write(f"error: {logs.REDACTOR.scrub(str(exc))}\n")
        return 1
    finally:
        functions.close()
        secrets.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
