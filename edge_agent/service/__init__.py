"""The service: the one place where the stages are wired into a running agent.

agent.Agent loads the config's stages once, runs one camera loop per camera
(camera_loop), reloads on SIGHUP (reload) and tells systemd how it is doing
(sd_notify). Only commands import it.
"""
