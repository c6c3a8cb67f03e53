"""An IP camera on loopback: gst-rtsp-server (Debian's gir1.2-gst-rtsp-server-1.0 through
python3-gi, so run by the system's python3) serving one JPEG as an MJPEG-over-RTP stream, or
with ``--h264 GOP`` as H.264 (x264enc, gstreamer1.0-plugins-ugly) with a keyframe every GOP
frames, as most IP cameras send.  An H.264 camera's encoder runs whether anyone watches or not
(the server watches its own stream, so its shared media never stops): a client that connects
starts between two keyframes, as on a real camera, not on a keyframe made for it.  With
``--h264-inband GOP`` its SDP holds no ``sprop-parameter-sets``: a client learns the picture's
size only from the SPS before the next keyframe, as with some cameras.  With ``--send-fps RATE`` it
stamps its frames at FPS but sends only RATE of them a second, as cheap cameras do (its media run
on a clock slowed to RATE/FPS: the RTP timestamps advance FPS to a frame, the sending keeps RATE).

With ``--audio`` it also sends a second stream, A-law audio (``pay1``): an audio test tone fed
in through interaudiosrc, as a camera's microphone (an audiotestsrc in the media made it
seekable and FFmpeg's seek at PLAY failed with 503).

With ``--h265 GOP`` it sends H.265 (x265enc) instead.  With ``--protocols tcp`` (or ``udp``) it
offers RTP over that lower transport only, as some cameras and NVRs do.

Usage: ``python3 tests/rtsp_server.py [--h264|--h264-inband|--h265 GOP] [--protocols tcp|udp]
[--send-fps RATE] [--audio] IMAGE FPS [PORT [USER:PASSWORD [basic|digest]]]``;
prints the bound port once the server listens (``rtsp://127.0.0.1:<port>/cam``) and serves until
killed.  With USER:PASSWORD the stream is only for them (Basic, or Digest as most cameras ask).  The image's width
and height must be multiples of 8 (RTP's JPEG payload).
"""

import sys

H264_RTP = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96,packetization-mode=(string)1"


def main() -> None:
    import gi  # the system's PyGObject: imported here, after the versions are pinned below

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    gi.require_version("GstRtsp", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    args, gop, inband, h265, protocols = sys.argv[1:], 0, False, False, ""
    if args[:1] in (["--h264"], ["--h264-inband"], ["--h265"]):
        gop, inband, h265, args = int(args[1]), args[0] == "--h264-inband", args[0] == "--h265", args[2:]
    if args[:1] == ["--protocols"]:
        protocols, args = args[1], args[2:]
    send = 0.0
    if args[:1] == ["--send-fps"]:
        send, args = float(args[1]), args[2:]
    audio = args[:1] == ["--audio"]
    args = args[1:] if audio else args
    image, fps = args[0], int(args[1])
    port = args[2] if len(args) > 2 else "0"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    # imagefreeze repeats the picture with timestamps at the frame rate: the server's sink
    # paces the stream in real time, as a camera does; an H.264 camera's is live, so that a
    # client's PLAY does not seek it back to a fresh keyframe.  x264: no lookahead, so the
    # first frame leaves at once; one slice a frame (FFmpeg decoded zerolatency's sliced
    # threads as grey over RTP); SPS and PPS before each keyframe
    source = (f'filesrc location="{image}" ! jpegdec ! imagefreeze is-live={str(bool(gop)).lower()} '
              f"! video/x-raw,framerate={fps}/1")
    encode = (f"videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast sliced-threads=false threads=1 "
              f"key-int-max={gop}" if gop else "jpegenc quality=90")
    if h265:
        encode = (f"videoconvert ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
                  f'option-string="pools=1:frame-threads=1"')
    pay = ("rtph265pay pt=96 config-interval=-1" if h265 else
           "rtph264pay pt=96 config-interval=-1" if gop else "rtpjpegpay pt=26")

    class Factory(GstRtspServer.RTSPMediaFactory):
        """The payloader (``pay0``) is a bin: for ``--h264-inband`` its caps are replaced by ones
        without the SPS and PPS, so the SDP made from them has none."""

        def do_create_element(self, url: object) -> object:
            media = Gst.Bin.new("media")
            head = Gst.parse_bin_from_description(f"{source} ! {encode}", True)
            tail = Gst.parse_bin_from_description(
                f"{pay} ! capssetter join=false replace=true caps={H264_RTP}" if inband else pay, True)
            tail.set_name("pay0")
            media.add(head)
            media.add(tail)
            head.link(tail)
            if audio:
                sound = Gst.parse_bin_from_description(
                    "interaudiosrc channel=mic ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! audioresample "
                    "! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay pt=8", True)
                sound.set_name("pay1")
                media.add(sound)
            return media

    if audio:  # the microphone: runs whether anyone listens or not
        mic = Gst.parse_launch("audiotestsrc is-live=true wave=ticks ! audio/x-raw,rate=48000,channels=1 "
                               "! interaudiosink channel=mic")
        mic.set_state(Gst.State.PLAYING)
    factory = Factory()
    factory.set_shared(True)
    if protocols:  # a camera that offers RTP over TCP only, or over UDP only
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP if protocols == "tcp" else GstRtsp.RTSPLowerTrans.UDP)
    if send:
        clock = Gst.SystemClock()
        now = clock.get_internal_time()
        clock.set_calibration(now, now, int(send * 1000), fps * 1000)
        factory.set_clock(clock)
    if len(args) > 3:
        user, password = args[3].split(":", 1)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user)
        auth = GstRtspServer.RTSPAuth()
        if len(args) > 4 and args[4] == "digest":
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
    bound = server.get_bound_port()
    if gop:
        viewer = Gst.parse_launch(f"rtspsrc location=rtsp://127.0.0.1:{bound}/cam protocols={protocols or 'tcp'} "
                                  "! fakesink")
        if len(args) > 3:
            viewer.get_by_name("rtspsrc0").set_property("user-id", user)
            viewer.get_by_name("rtspsrc0").set_property("user-pw", password)
        viewer.set_state(Gst.State.PLAYING)
    print(bound, flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
