"""An IP camera on loopback: gst-rtsp-server (Debian's gir1.2-gst-rtsp-server-1.0 through
python3-gi, so run by the system's python3) serving one JPEG as an MJPEG-over-RTP stream.

Usage: ``python3 tests/rtsp_server.py IMAGE FPS [PORT [USER:PASSWORD [basic|digest]]]``; prints
the bound port once the server listens (``rtsp://127.0.0.1:<port>/cam``) and serves until
killed.  With USER:PASSWORD the stream is only for them (Basic, or Digest as most cameras ask).  The image's width
and height must be multiples of 8 (RTP's JPEG payload).
"""

import sys


def main() -> None:
    import gi  # the system's PyGObject: imported here, after the versions are pinned below

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    gi.require_version("GstRtsp", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    image, fps = sys.argv[1], int(sys.argv[2])
    port = sys.argv[3] if len(sys.argv) > 3 else "0"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    # imagefreeze repeats the picture with timestamps at the frame rate: the server's sink
    # paces the stream in real time, as a camera does
    factory.set_launch(f'( filesrc location="{image}" ! jpegdec ! imagefreeze '
                       f'! video/x-raw,framerate={fps}/1 ! jpegenc quality=90 ! rtpjpegpay name=pay0 pt=26 )')
    factory.set_shared(True)
    if len(sys.argv) > 4:
        user, password = sys.argv[4].split(":", 1)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user)
        auth = GstRtspServer.RTSPAuth()
        if len(sys.argv) > 5 and sys.argv[5] == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.from_string(
            f"{user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
