% if not sinks:
<p class="muted">No MQTT broker or webhook is configured: events are only kept here.</p>
% else:
<table>
<thead><tr><th>Sink</th><th>State</th><th>Queued</th><th>Delivered</th><th>Dropped</th><th>Last error</th></tr></thead>
<tbody>
% for s in sinks:
<tr class="{{"ok" if s["state"] == "ok" else "bad"}}">
  <td>{{s["sink"]}}</td><td>{{s["state"]}}{{f" ({s['failures']} failures)" if s["failures"] else ""}}</td>
  <td class="num">{{s["pending"]}}</td><td class="num">{{s["delivered"]}}</td>
  <td class="num">{{s["dropped"]}}</td><td>{{s["last_error"] or ""}}</td>
</tr>
% end
</tbody>
</table>
% end
