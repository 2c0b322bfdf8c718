"""The Docker road behind the Road interface: the Compose project of this
checkout.

`make run` stays Compose's parent (`up.py`: it prints the banner); `stop`
(once the containers are stopped), `logs`, `reload-data` and `clean-sql`
hand the process over to the Compose or Docker command that does it, so its
signals and exit status are its own.
"""

from __future__ import annotations

import dataclasses
import subprocess
from typing import TYPE_CHECKING

from inframock.core.errors import UsageError
from inframock.core.settings import Settings
from inframock.roads.base import Handover, Outcome, Road, first_use, require_stack
from inframock.roads.compose.probes import (
    container_services,
    engine_version,
    show_services,
)
from inframock.roads.compose.project import (
    COMPOSE_FILE,
    STOP,
    down_args,
    logs_args,
    pg_data_volume,
    reload_args,
)
from inframock.roads.compose.up import up

if TYPE_CHECKING:
    from inframock.features.status import StackStatus


@dataclasses.dataclass(frozen=True)
class ComposeRoad(Road):
    """The road taken: its Compose command, project and profiles."""

    name = "docker"
    compose: tuple[str, ...]
    """The Compose command: `docker compose`, or `docker-compose`."""
    project: str
    """The Compose project name (see `project_name`)."""
    profiles: tuple[str, ...]
    """The Compose profiles to enable (see `compose_profiles`)."""

    def command(self, args: tuple[str, ...]) -> list[str]:
        """The full Compose command line for `args`, on this project and file."""
        enabled = [arg for name in self.profiles for arg in ("--profile", name)]
        return [
            *self.compose,
            "--project-name",
            self.project,
            "--file",
            str(COMPOSE_FILE),
            *enabled,
            *args,
        ]

    @classmethod
    def refuse_to_run(cls, settings: Settings) -> None:
        """INFRAMOCK_PERSIST: the Docker road does not keep state (its engine
        and Redis run in containers that start clean)."""
        if settings.persist:
            raise UsageError(
                "INFRAMOCK_PERSIST keeps the state of the embedded road only; the "
                "Docker road always starts clean. Use INFRAMOCK_RUNTIME=local, or "
                "`make snapshot`/`make restore` on the Docker road"
            )

    def run(self, settings: Settings, detached: bool, verbose: bool) -> Outcome:
        """Compose's own exit status; `verbose` changes nothing: Compose shows
        every line of the containers."""
        self.refuse_to_run(settings)
        first_use(settings)
        return up(self, settings)

    def start(self, settings: Settings, verbose: bool) -> Outcome:
        """Refused, saying how to run the stack instead."""
        raise UsageError(
            "`make start` runs the embedded stack only; on the Docker road use "
            "`make run` (foreground), or INFRAMOCK_RUNTIME=local make start"
        )

    def stop(self, settings: Settings) -> Outcome:
        """The containers stopped, then removed (`down`). A `make run` in
        the foreground then sees each of them exit before it is gone: removed
        while Compose's `up` still watched it, a container made Compose 2.40
        panic (docker/compose#13559), and `make run` end with status 2."""
        subprocess.run(self.command(STOP), check=False, stdin=subprocess.DEVNULL)
        return Handover(self.command(down_args(self)))

    def logs(self, settings: Settings, follow: bool, lines: int | None) -> Outcome:
        """The containers' logs: `docker compose logs` (`-f` to follow)."""
        return Handover(self.command(logs_args(follow, lines)))

    def status(self, settings: Settings, stale: str, quiet: bool) -> StackStatus:
        """Compose's own view of the containers first (unless `quiet`); no
        record of `make run` says which engine runs, so the aws container is
        asked."""
        # pylint: disable-next=import-outside-toplevel
        from inframock.features.status import collect_status

        if not quiet:
            show_services(self)
        report = collect_status(settings, engine_version(self), stale)
        report.compose_project = self.project
        _add_containers(report, self, settings)
        return report

    def reload(self, settings: Settings, everything: bool) -> Outcome:
        """The `populate` loader again, against the running containers."""
        require_stack(settings)
        return Handover(self.command(reload_args(everything)))

    def clean_sql(self, settings: Settings) -> Outcome:
        """The project's `pg_data` volume (Docker refuses while a container of
        the project uses it)."""
        return Handover(["docker", "volume", "rm", pg_data_volume(self)])


def _add_containers(report: StackStatus, road: ComposeRoad, settings: Settings) -> None:
    """The profile's services status cannot ask over a socket (the relay), as
    their Compose containers: healthy only while running."""
    # pylint: disable-next=import-outside-toplevel
    from inframock.services.base import ServiceStatus

    known = {service.name for service in report.services}
    for name, state in container_services(road, settings, known):
        report.services.append(
            ServiceStatus(name, state == "running", "container", state)
        )
        report.healthy = report.healthy and state == "running"
