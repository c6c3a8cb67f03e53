% if error:
<p class="muted">No events shown: correct the search (what is marked above).</p>
% elif not enabled:
<p class="muted">The event history is off (<code>history.enabled</code> and <code>history.api_reads</code> are false).</p>
% elif not events:
<p class="muted">{{"No event matches the search." if searching else "No events yet."}}</p>
% else:
<table class="events cards">
<thead><tr><th>Time <span class="zone">(UTC)</span></th><th>Camera</th><th>Plate</th><th>Crop</th><th class="num">Score</th><th>Watch list</th><th>Source</th></tr></thead>
<tbody>
% for e in events:
% m = e["match"]
<tr class="{{"match" if m else ""}}" data-event="{{e["id"]}}">
  <td data-label="Time">{{!when(e["timestamp"])}}{{!FILE_TIME if e["camera_id"] in get("file_timed", ()) else ""}}</td><td data-label="Camera">{{e["camera_id"]}}</td>
  <td data-label="Plate" class="plate">{{e["plate"].upper()}}{{f" (distance {e['distance']:g})" if "distance" in e else ""}}</td>
  <td data-label="Crop">
  % if e["images"]["plate"]:
    <a class="scene" href="{{e["images"]["scene"] or e["images"]["plate"]}}" data-crop="{{e["images"]["plate"]}}" data-plate="{{e["plate"].upper()}}" data-camera="{{e["camera_id"]}}" data-box="{{plate_box(e)}}"><img class="crop" src="{{e["images"]["plate"]}}" alt="plate {{e["plate"].upper()}}"{{!crop_size(e)}} loading="lazy"></a>
  % end
  </td>
  <td class="num" data-label="Score">{{f"{e['score']:.2f}"}}</td>
  <td data-label="Watch list">
  % if m:
    <span class="tag">{{m["list"]}}</span> {{m["label"]}} ({{m["plate"]}}, {{f"{m['distance']:g}"}})
  % end
  </td>
  <td data-label="Source">{{e["source"]}}</td>
</tr>
% end
</tbody>
</table>
% end
% if newest or older:
<p class="paging">
% if newest:
<a href="{{newest}}">&larr; Newest events</a>
% end
% if older:
<a href="{{older}}" rel="next">Older events &rarr;</a>
% end
</p>
% end
