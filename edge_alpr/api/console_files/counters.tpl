<dl class="counters">
  % # a camera's events count as calls (usage.max_calls), though no client called: said, or a
  % # device whose only client is its camera seemed to be called by someone
  <dt>Calls this month</dt><dd>{{c["calls"]}}{{f" of {c['max_calls']}" if c["max_calls"] else ""}} (API reads and camera events; resets {{!when(c["resets_on"])}})</dd>
  <dt>Calls in all</dt><dd>{{c["lifetime_calls"]}}</dd>
  % if "queued" in c:
  <dt>Outbox</dt><dd>{{c["queued"]}} queued ({{size(c["queued_bytes"])}}), {{c["dropped"]}} dropped</dd>
  % end
  % if "history_events" in c:
  <dt>History</dt><dd>{{c["history_events"]}} events ({{size(c["history_bytes"])}}), {{c["history_dropped"]}} not kept</dd>
  % if c["history_waiting"]:
  <dt class="bad">History locked</dt><dd class="bad">{{c["history_waiting"]}} events wait for another process to let the database go</dd>
  % end
  % end
  % for w in c["workers"]:
  <dt class="bad">{{w["name"]}}</dt><dd class="bad">{{w["state"]}}, {{w["crashes"]}} {{"restart" if w["crashes"] == 1 else "restarts"}}{{f": {w['last_error']}" if w["last_error"] else ""}}</dd>
  % end
</dl>
