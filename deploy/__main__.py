"""``python -m deploy``: build the zip, then deploy the action, its Secret Manager trigger
(one trigger for the whole list of secrets) and each secret's auto rotation.

The help (``--help``) is plain text written for the terminal: :data:`DESCRIPTION` and
:data:`EPILOG` (every flag, the environment, the exit codes); this docstring is for readers
of the code. The steps and their rules are in deploy/steps.py, the settings in
deploy/config.py, the CA files that travel in the zip in deploy/certs.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from deploy.certs import ZipError, with_entries
from deploy.config import ConfigError, load
from deploy.package import ZIP_LIMIT_BYTES, PackageError, build_package
from deploy.steps import Deployer, DeployError
from rotation import logs
from rotation.ncp.cloudfunctions import CloudFunctionsClient
from rotation.ncp.secretmanager import SecretManagerClient

DESCRIPTION = """\
Build the action zip, then deploy the Cloud Functions action, its Secret Manager trigger
(one trigger for the whole list of secrets) and each secret's auto rotation.

Each step reads what is there and writes only what differs: a second run with nothing
changed writes nothing and says so. --dry-run prints the plan and changes nothing. Settings
come from the --config file; a flag given here replaces the file's value."""

EPILOG = """\
environment:
  NCLOUD_ACCESS_KEY, NCLOUD_SECRET_KEY    the deploying key pair (required; never a flag
                                          or in the file)
  ROTATOR_ACCESS_KEY, ROTATOR_SECRET_KEY  the action's own, narrower key pair (both or
                                          neither; neither: the action gets the NCLOUD_*
                                          pair)

CA files: a caBundle or sslRootCert the parameters name is read here (a relative path from
this directory), packed into the zip as certs/<sha256>.pem, and the action is given that
path. A file that cannot be read, holds no PEM certificate or holds a private key is
refused.

paused secrets: a listed secret linked to the trigger with auto rotation off (python -m
rotation pause) stays paused; the plan says so. --unpause turns it back on.

exit codes:
  0  done, or nothing to change
  1  a step failed: the message names the step, the HTTP status and what to do
  2  bad input (the file, a flag, the environment, a CA file, action parameters the
     action would refuse for a secret): nothing was written"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="a TOML file like deploy/config.example.toml")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--prune", action="store_true",
                   help="unlink secrets the trigger serves that the configuration no longer "
                        "names (their auto rotation is turned off first)")  # fmt: skip
    p.add_argument("--unpause", action="store_true",
                   help="turn auto rotation back on for listed secrets an operator paused "
                        "(without it they stay paused)")  # fmt: skip
    p.add_argument("--zip", dest="zip_path", type=Path, metavar="PATH",
                   help="deploy this zip (e.g. the previous release) instead of building "
                        "dist/rotation-action.zip; CA files are still added")  # fmt: skip
    p.add_argument("--secret-name", dest="secret_names", action="append", metavar="NAME",
                   help="a secret to rotate (repeatable); replaces the file's list")  # fmt: skip
    p.add_argument("--secret-id", dest="secret_ids", action="append", metavar="ID",
                   help="a secret to rotate, by id (repeatable)")  # fmt: skip
    p.add_argument("--period", dest="rotation_period", type=int, metavar="DAYS",
                   help="days, 1-730, for every secret that does not set its own "
                        "(default 30)")  # fmt: skip
    p.add_argument("--package", metavar="NAME",
                   help='the Cloud Functions package holding the action ("-": none, the '
                        "default)")  # fmt: skip
    p.add_argument("--action", metavar="NAME",
                   help="the action's name (default secret-rotator)")  # fmt: skip
    p.add_argument(
        "--trigger",
        metavar="NAME",
        help="the Secret Manager trigger's name (default secret-rotator-trigger)",
    )
    p.add_argument("--timeout-ms", type=int, metavar="MS",
                   help="the action's time limit, 500-300000 ms (default 120000)")  # fmt: skip
    p.add_argument("--memory-mb", type=int, metavar="MB",
                   help="the action's memory: 128, 256, 512 or 1024 (default 256)")  # fmt: skip
    p.add_argument("--vpc-no", type=int, metavar="N",
                   help="the VPC the action runs in (required)")  # fmt: skip
    p.add_argument("--subnet-no", type=int, metavar="N",
                   help="a subnet of that VPC in zone KR-2 with a route out through a NAT "
                        "Gateway (required)")  # fmt: skip
    p.add_argument("--cloud-functions-endpoint", metavar="URL",
                   help="the Cloud Functions API (default "
                        "https://cloudfunctions.apigw.ntruss.com/ncf/api/v2)")  # fmt: skip
    p.add_argument("--secret-manager-endpoint", metavar="URL",
                   help="the Secret Manager API holding the secrets (default "
                        "https://ocapi-kr.ncloud.com/secretmanager)")  # fmt: skip
    return p


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    logs.configure("WARNING")
    opts = _parser().parse_args(argv)
    flags = {
        k: v for k, v in vars(opts).items() if k not in ("config", "dry_run", "prune", "unpause")
    }
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
        zip_bytes = with_entries(zip_bytes, config.ca_files.entries, ZIP_LIMIT_BYTES)
    except (OSError, PackageError, ZipError) as exc:
        sys.stderr.write(f"error: step package failed: {exc}\n")
        return 1
    functions = CloudFunctionsClient(config.credentials, endpoint=config.cloud_functions_endpoint)
    secrets = SecretManagerClient(config.credentials, endpoint=config.secret_manager_endpoint)
    try:
        Deployer(
            config, zip_bytes, functions=functions, secrets=secrets, out=stream,
            dry_run=opts.dry_run, prune=opts.prune, unpause=opts.unpause,
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
