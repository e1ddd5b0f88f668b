"""SIGHUP: take up a changed config and hot list without stopping the camera.

Never in the signal handler, and in two steps. The config and hot list are
loaded on a worker thread, because a big list takes seconds to read on a Pi
and the camera must not stall meanwhile. When the load is done the worker
asks for a reload again, and the frame-loop thread, between two frames,
applies it: the matcher and tracker are swapped while nothing is using them.
A new config or hot list that does not load is logged and the running one
kept, so a typo made on a ladder never takes a unit down.

What changes live: the hot list and [hotlist], [tracker] and each camera's
privacy mask and [cameras.tracker]. Everything else (the camera source, the broker, storage, the
reader's models) is held by long-lived connections and files, and takes
effect at the next `systemctl restart edge-agent`; the log says so.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import SECTIONS, load_config
from ..config.loader import ConfigError
from ..errors import AgentError
from ..privacy.policy import record_config

if TYPE_CHECKING:
    from ..config import AgentConfig
    from ..privacy.match import Matcher
    from .agent import Agent

log = logging.getLogger(__name__)

LIVE_SECTIONS = ("hotlist", "tracker")


@dataclass
class _Load:
    done: threading.Event = field(default_factory=threading.Event)
    cfg: AgentConfig | None = None  # None once done: rejected
    matcher: Matcher | None = None
    again: bool = False  # asked again while loading: the files may have changed after they were read


_loads: weakref.WeakKeyDictionary[Agent, _Load] = weakref.WeakKeyDictionary()


def reload_agent(agent: Agent) -> bool | None:
    """On the frame-loop thread, each time a reload is requested: start loading, or apply what was loaded.

    None: loading (the worker requests a reload when done, which brings the
    call that applies it); True: applied; False: rejected, the running config kept.
    """
    load = _loads.get(agent)
    if load is None:
        _start(agent)
        return None
    if not load.done.is_set():
        load.again = True
        return None
    del _loads[agent]
    applied = _apply(agent, load)
    if load.again:
        _start(agent)
    return applied


def _start(agent: Agent) -> None:
    agent.notifier.reloading()
    load = _loads[agent] = _Load()
    threading.Thread(target=_load, args=(agent, agent.cfg.path, load), name="reload", daemon=True).start()


def _load(agent: Agent, path: str, load: _Load) -> None:
    try:
        cfg = load_config(path)
        load.matcher = agent.load_matcher(cfg)
        load.cfg = cfg
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("reload rejected: %s", problem)
        log.error("reload rejected: keeping the running config and hot list")
    except AgentError as exc:
        log.error("reload rejected: %s; keeping the running config and hot list", exc)
    except Exception:  # a fault here must not leave the reload pending for ever
        log.exception("reload rejected: keeping the running config and hot list")
    finally:
        load.done.set()  # first: the call this request brings must find the load done
        agent.request_reload()


def _apply(agent: Agent, load: _Load) -> bool:
    cfg, matcher = load.cfg, load.matcher
    if cfg is None or matcher is None:
        agent.notifier.reloaded("reload rejected; running config kept")
        return False
    old = agent.cfg
    changes = {name: getattr(cfg, name) for name in LIVE_SECTIONS}
    # Per camera, its tracker and its privacy mask change live; the cameras
    # themselves (how many, their ids and sources) at the next restart.
    loaded = {setup.id: setup for setup in cfg.camera_setups()}
    for camera in agent.cameras:
        setup = loaded.get(camera.id)
        if setup is None:
            continue
        if setup.tracker != camera.setup.tracker:
            camera.retrack(setup.tracker)  # its open tracks close under the old rules
        mask = setup.camera.mask
        if mask != camera.setup.camera.mask:
            if camera.source is not None:
                camera.source.mask = setup.camera.mask_regions()
            log.info("reload: privacy mask%s now %s", f" of camera {camera.id}" if old.cameras else "", mask or "none")
        camera.setup = dataclasses.replace(camera.setup, camera=dataclasses.replace(camera.setup.camera, mask=mask),
                                           tracker=setup.tracker)
    camera = dataclasses.replace(old.camera, mask=cfg.camera.mask) if not old.cameras else old.camera
    own = {c.id: c for c in cfg.cameras}
    changes["cameras"] = tuple(dataclasses.replace(c, mask=own[c.id].mask, tracker=own[c.id].tracker)
                               if c.id in own else c for c in old.cameras)
    agent.matcher = matcher
    agent.cfg = dataclasses.replace(old, camera=camera, **changes)
    later = [name for name in (*SECTIONS, "cameras") if getattr(cfg, name) != getattr(agent.cfg, name)]
    if later:
        log.warning("reload: [%s] changed; takes effect at the next restart (systemctl restart edge-agent)",
                    "], [".join(name if name != "cameras" else "[cameras]" for name in later))
    # The hot-list load was audit-logged by load_matcher (policy.admit_hotlist); this records the config change.
    record_config(cfg)
    log.info("reload: config %s and hot list applied (%d live entries)", cfg.path, len(matcher))
    agent.notifier.reloaded("config reloaded")
    return True
