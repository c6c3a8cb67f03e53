% if not cameras:
<p class="muted">No camera runs in this process (<code>edge-alpr serve</code>, or <code>stream.enabled</code> is false).</p>
% else:
<table class="cards">
% # two rates, named by the frames they count: a camera's own rate is the captured one; the
% # recognised one is lower when the recogniser is busy, max_fps or sample skip frames
<thead><tr><th>Camera</th><th>Source</th><th>State</th>
<th class="num" aria-describedby="rate-captured">Captured fps</th>
<th class="num" aria-describedby="rate-recognised">Recog&shy;nised fps</th>
<th class="num">Frames read / recog&shy;nised / dropped</th><th class="num">Lag</th><th class="num">Last frame</th><th class="num">Events</th></tr></thead>
<tbody>
% for c in cameras:
<tr class="{{c.row_class}}" data-state="{{c.state}}" data-index="{{c.index}}" data-view="{{c.frames_processed if c.has_view else ""}}">
  <td data-label="Camera">{{c.id}}</td><td data-label="Source">{{c.source}}</td>
  <td data-label="State">{{c.shown_state}}{{f", {c.crashes} restart{'' if c.crashes == 1 else 's'}" if c.crashes else ""}}
  % if c.failing_since:
    <span class="detail since">without frames since {{!when(c.failing_since)}} ({{c.failing_for}})</span>
  % end
  % if c.view_problem:
    <span class="detail bad">{{c.view_line}}</span>
  % end
  % if c.last_error:
    <span class="detail">{{f"{c.errors} errors, the last" if c.errors else "last error"}}{{!f" ({when(c.last_error_at)})" if c.last_error_at else ""}}: {{c.last_error}}</span>
  % end
  </td>
  % # a rate or a lag before the first frame is not 0: it is not known yet
  % read, recognised = ("", "") if c.frames_read else (unknown("no frame captured yet"),) * 2
  % recognised = recognised or ("" if c.frames_processed else unknown("no frame recognised yet"))
  <td class="num" data-label="Captured fps">{{!read or f"{c.capture_fps:.1f}"}}</td><td class="num" data-label="Recognised fps">{{!read or f"{c.fps:.1f}"}}</td>
  <td class="num" data-label="Read / recognised / dropped">{{c.frames_read}} / {{c.frames_processed}} / {{c.frames_dropped}}</td>
  <td class="num" data-label="Lag">{{!recognised or f"{c.lag_s:.2f} s"}}</td>
  <td class="num wrap" data-label="Last frame">{{c.last_frame}}{{!c.frame_time_html}}</td>
  <td class="num" data-label="Events">{{c.events}}</td>
</tr>
% end
</tbody>
</table>
% # the rates' meaning as text under the table, not a header's title: a title is shown on a
% # mouse's hover only, and the phone's cards have no headers
<p class="muted legend"><span id="rate-captured"><strong>Captured fps</strong>: frames captured from the source per second, over the last 10 s or more.</span>
<span id="rate-recognised"><strong>Recognised fps</strong>: frames recognised per second, over the last 10 s or more: fewer than captured while the recogniser is busy or frames are skipped (max_fps, sample, a still scene).</span></p>
% end
