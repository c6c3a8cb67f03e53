% if not cameras:
<p class="muted">No camera runs in this process (<code>edge-alpr serve</code>, or <code>stream.enabled</code> is false).</p>
% else:
<table>
<thead><tr><th>Camera</th><th>Source</th><th>State</th><th>fps</th><th>Captured fps</th>
<th>Frames read / recognised / dropped</th><th>Lag</th><th>Last frame</th><th>Events</th></tr></thead>
<tbody>
% for c in cameras:
<tr class="{{"ok" if c.state == "running" else "muted" if c.state == "source ended" else "bad"}}">
  <td>{{c.id}}</td><td>{{c.source}}</td>
  <td>{{c.state}}{{f" ({c.crashes} restarts: {c.last_error})" if c.crashes else ""}}</td>
  <td class="num">{{f"{c.fps:.1f}"}}</td><td class="num">{{f"{c.capture_fps:.1f}"}}</td>
  <td class="num">{{c.frames_read}} / {{c.frames_processed}} / {{c.frames_dropped}}</td>
  <td class="num">{{f"{c.lag_s:.2f} s"}}</td>
  <td class="num">{{"never" if c.last_frame_s is None else f"{c.last_frame_s:.0f} s ago"}}</td>
  <td class="num">{{c.events}}</td>
</tr>
% end
</tbody>
</table>
% end
