% if not sinks:
% if kept:
<p class="muted">No MQTT broker or webhook is configured: events are only kept here, in the history.</p>
% else:
<p class="muted">No MQTT broker or webhook is configured, and the event history is off: events are neither sent nor kept (an API client still gets its answer).</p>
% end
% else:
<table class="cards">
<thead><tr><th>Sink</th><th>State</th><th class="num">Queued</th><th class="num">Delivered</th><th class="num">Dropped</th><th>Last error</th></tr></thead>
<tbody>
% for s in sinks:
<tr class="{{"ok" if s["state"] == "ok" else "bad"}}">
  <td data-label="Sink">{{s["sink"]}}</td><td data-label="State">{{s["state"]}}{{f" ({s['failures']} failures)" if s["failures"] else ""}}
  % if s.get("since") and s["state"] in ("failing", "disabled"):
    <span class="detail since">failing since {{!when(s["since"])}} ({{s["failing_for"]}})</span>
  % end
  </td>
  <td class="num" data-label="Queued">{{s["pending"]}}
  % if s.get("aside"):
    <span class="detail aside" title="too large for the receiver: kept, and tried again at the next start (the log's warning says the fix)">{{s["aside"]}} set aside</span>
  % end
  </td><td class="num" data-label="Delivered">{{s["delivered"]}}</td>
  <td class="num" data-label="Dropped">{{s["dropped"]}}</td><td data-label="Last error" title="{{s.get("detail") or ""}}">{{s["last_error"] or s.get("notice") or ""}}</td>
</tr>
% end
</tbody>
</table>
% end
