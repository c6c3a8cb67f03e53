% if lists is None:
<p class="muted">Watch lists are not available here.</p>
% else:
% if not lists:
<p class="muted">No watch lists yet: add them to the config file (<code>watchlists</code>)<span class="scripted"> or create one below</span>.</p>
% end
% for wl in lists:
<div class="list" data-list="{{wl.name}}">
  <h3>{{wl.name}} <span class="muted">{{len(wl.entries)}} {{"plate" if len(wl.entries) == 1 else "plates"}}, max distance {{f"{wl.max_distance:g}"}}, {{matches.get(wl.name, 0)}} {{"match" if matches.get(wl.name, 0) == 1 else "matches"}} since the service started {{!when(since)}}{{", from the config file (read-only)" if wl.source == "config" else ""}}</span></h3>
  <div class="plates">
  <table>
  % for entry in wl.entries[:shown_plates]:
    <tr><td class="plate">{{entry.plate}}</td><td>{{entry.label}}</td>
      <td class="num">{{"" if entry.max_distance is None else f"{entry.max_distance:g}"}}</td>
      <td>
      % if wl.source != "config":
        <button type="button" data-action="remove" data-list="{{wl.name}}" data-plate="{{entry.plate}}" aria-label="Remove {{entry.plate}} from {{wl.name}}">Remove</button>
      % end
      </td></tr>
  % end
  </table>
  </div>
  % if len(wl.entries) > shown_plates:
  <p class="muted">The first {{shown_plates}} plates are shown; all {{len(wl.entries)}} are in <code>GET /v1/watchlists/{{wl.name}}/</code>{{"" if wl.source == "config" else f" (a plate typed below is added or changed wherever it is; DELETE /v1/watchlists/{wl.name}/plates/<plate>/ removes one not shown)"}}.</p>
  % end
  % if wl.source != "config":
  <form data-action="add" data-list="{{wl.name}}" class="inline">
    <input name="plate" placeholder="plate" required maxlength="16" size="9" aria-label="Plate to add to {{wl.name}}">
    <input name="label" placeholder="label" maxlength="80" size="12" aria-label="Label of the plate to add to {{wl.name}} (optional)">
    <button type="submit" aria-label="Add to {{wl.name}}">Add</button>
    <button type="button" data-action="drop" data-list="{{wl.name}}" aria-label="Delete list {{wl.name}}">Delete list</button>
  </form>
  % end
</div>
% end
<form data-action="create" class="inline">
  <label>New list <input name="name" placeholder="name" required pattern="[A-Za-z0-9_\-]{1,32}" maxlength="32" size="10"></label>
  <label>max distance <input name="max_distance" type="number" min="0" max="3" step="0.5" value="1"></label>
  <button type="submit">Create</button>
</form>
% end
