"""`cowork-devstack up [--brokers N]|down|status|env|jars|kafka-stop|kafka-start|services-up|services-down|
config-reference [--write]|contract-docs [--write|--check]`."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from cowork.devstack import mailsink, services, stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cowork-devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env", "jars", "kafka-stop",
                                            "kafka-start", "services-up", "services-down",
                                            "config-reference", "contract-docs"])
    parser.add_argument("--write", action="store_true",
                        help="config-reference: update docs/deploy.md instead of printing; "
                             "contract-docs: regenerate docs/api/ and docs/events/")
    parser.add_argument("--check", action="store_true",
                        help="contract-docs: list the stale files and fail (the default)")
    parser.add_argument("--brokers", type=int, default=None,
                        help="up: run Kafka as a KRaft cluster of this many nodes (3 for the "
                             "replicated setup; default COWORK_KAFKA_BROKERS or 1). Give the "
                             "cluster its own COWORK_STATE_DIR and ports beside a running stack")
    args = parser.parse_args(argv)
    if args.command == "contract-docs":
        from cowork.devstack import contract_docs

        return contract_docs.main(["--write"] if args.write else ["--check"])
    if args.command == "config-reference":
        return _config_reference(write=args.write)
    cfg = stack.StackConfig.from_env()
    if args.brokers is not None:
        if args.brokers < 1:
            parser.error("--brokers must be 1 or more")
        cfg = dataclasses.replace(cfg, brokers=args.brokers)
    try:
        if args.command == "up":
            stack.up(cfg)
            print(f"stack up: kafka {cfg.kafka_bootstrap}, postgres {cfg.database_url()}")
            print(f"addresses written to {cfg.env_file}")
        elif args.command == "down":
            services.stop_services(cfg)
            stack.down(cfg)
            print("stack down")
        elif args.command == "status":
            for part, ok in stack.status(cfg).items():
                print(f"{part}: {'up' if ok else 'down'}")
            for name, state in services.status(cfg).items():
                print(f"{name}: {state}")
        elif args.command == "env":
            for key, value in sorted(cfg.addresses().items()):
                print(f"export {key}={value}")
        elif args.command == "jars":
            print(f"kafka jars in {stack.resolve_kafka_jars(cfg)}")
        elif args.command == "services-up":
            for service in services.start_services(cfg):
                print(f"{service.name:<14} http://127.0.0.1:{service.port}  (docs: /docs)")
                if service.name == "community":
                    print(f"{'public pages':<14} http://127.0.0.1:{service.port}/  "
                          f"(English: /?lang=en)")
                if service.name == "notifications":
                    print(f"{'mail':<14} smtp://127.0.0.1:{mailsink.port()}  every message is "
                          f"an .eml file in {mailsink.folder(cfg)}")
            return _verify_vouchers(cfg)
        elif args.command == "services-down":
            services.stop_services(cfg)
        elif args.command == "kafka-stop":
            stack.stop_kafka(cfg)
        elif args.command == "kafka-start":
            stack.start_kafka(cfg)
            stack.wait_for_kafka(cfg)
    except (stack.StackError, RuntimeError) as exc:
        print(f"cowork-devstack: {exc}", file=sys.stderr)
        return 1
    return 0


def _verify_vouchers(cfg: stack.StackConfig) -> int:
    """Run after the services (and their demo data) are up: a failing verify fails
    `make run`, with each mismatch printed, while the services keep running to look into."""
    verified = services.verify_vouchers(cfg)
    if verified is None:
        return 0
    print(verified.stdout.rstrip() or verified.stderr.rstrip())
    if verified.returncode != 0:
        print("cowork-devstack: the vouchers verify FAILED on the demo data (above); the "
              "services are still running", file=sys.stderr)
        if verified.stderr:
            print(verified.stderr.rstrip()[-3000:], file=sys.stderr)
        return 1
    return 0


def _config_reference(*, write: bool) -> int:
    from cowork.devstack import config_reference

    text = config_reference.render()
    if not write:
        print(text)
        return 0
    doc = config_reference.repo_root() / "docs" / "deploy.md"
    changed = config_reference.write(doc, text)
    print(f"{doc}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
