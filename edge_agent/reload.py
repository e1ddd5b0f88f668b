"""SIGHUP: take up a changed config and hot list without stopping the camera.

Runs on the frame-loop thread, between two frames, never in the signal
handler: the matcher and tracker are swapped while nothing is using them. A
new config or hot list that does not load is logged and the running one
kept, so a typo made on a ladder never takes a unit down.

What changes live: the hot list and [hotlist], [tracker] and the camera's
privacy mask. Everything else (the camera source, the broker, storage, the
reader's models) is held by long-lived connections and files, and takes
effect at the next `systemctl restart edge-agent`; the log says so.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from .config import SECTIONS, load_config
from .config.loader import ConfigError
from .errors import AgentError
from .policy import record_config
from .track import Tracker

if TYPE_CHECKING:
    from .service import Agent

log = logging.getLogger(__name__)

LIVE_SECTIONS = ("hotlist", "tracker")


def reload_agent(agent: Agent) -> bool:
    """Load agent.cfg.path again and apply what can change live; False if it was rejected."""
    agent.notifier.reloading()
    try:
        cfg = load_config(agent.cfg.path)
        matcher = agent.load_matcher(cfg)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("reload rejected: %s", problem)
        log.error("reload rejected: keeping the running config and hot list")
        agent.notifier.reloaded("reload rejected; running config kept")
        return False
    except AgentError as exc:
        log.error("reload rejected: %s; keeping the running config and hot list", exc)
        agent.notifier.reloaded("reload rejected; running config kept")
        return False

    old = agent.cfg
    changes = {name: getattr(cfg, name) for name in LIVE_SECTIONS}
    if cfg.tracker != old.tracker:
        # Close the open tracks under the old rules rather than drop them.
        for vehicle in agent.tracker.flush():
            agent.handle(vehicle)
        agent.tracker = Tracker(cfg.tracker)
    camera = old.camera
    if cfg.camera.mask != old.camera.mask:
        camera = dataclasses.replace(camera, mask=cfg.camera.mask)
        if agent.source is not None:
            agent.source.mask = cfg.camera.mask_regions()
        log.info("reload: privacy mask now %s", cfg.camera.mask or "none")
    agent.matcher = matcher
    agent.cfg = dataclasses.replace(old, camera=camera, **changes)
    later = [name for name in SECTIONS if getattr(cfg, name) != getattr(agent.cfg, name)]
    if later:
        log.warning("reload: [%s] changed; takes effect at the next restart (systemctl restart edge-agent)",
                    "], [".join(later))
    # The hot-list load was audit-logged by load_matcher (policy.admit_hotlist); this records the config change.
    record_config(cfg)
    log.info("reload: config %s and hot list applied (%d live entries)", cfg.path, len(matcher))
    agent.notifier.reloaded("config reloaded")
    return True
