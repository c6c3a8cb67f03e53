"""An IP camera on loopback: gst-rtsp-server (Debian's gir1.2-gst-rtsp-server-1.0 through
python3-gi, so run by the system's python3) serving one JPEG as an MJPEG-over-RTP stream.

Usage: ``python3 tests/rtsp_server.py IMAGE FPS [PORT]``; prints the bound port once the
server listens (``rtsp://127.0.0.1:<port>/cam``) and serves until killed.  The image's width
and height must be multiples of 8 (RTP's JPEG payload).
"""

import sys


def main() -> None:
    import gi  # the system's PyGObject: imported here, after the versions are pinned below

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

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
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
