<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{csrf}}">
<title>{{title}}</title>
<link rel="stylesheet" href="/console/static/console.css">
<link rel="icon" href="/console/static/icon.svg" type="image/svg+xml">
<noscript><link rel="stylesheet" href="/console/static/noscript.css"></noscript>
<script src="/console/static/patch.js" defer></script>
<script src="/console/static/console.js" defer></script>
<script src="/console/static/search.js" defer></script>
<script src="/console/static/photo.js" defer></script>
<script src="/console/static/scene.js" defer></script>
</head>
<body data-refresh-s="{{refresh_s}}">
<header>
  <h1>edge-alpr</h1><span class="muted">{{version}}</span>
  % if logout:
  <form method="post" action="/logout" class="logout">
    <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Log out</button>
  </form>
  % end
</header>
<div id="trouble" role="status">{{!parts["trouble"]}}</div>
<p id="message" role="status"></p>
<noscript><p class="noscript">JavaScript is off: this page shows the state at the time it was loaded (reload it to see newer events), times are in UTC, the watch lists can only be read here (edit them through <code>/v1/watchlists/</code>), and a photo can be tried only through the API (<code>curl -F upload=@car.jpg</code>).</p></noscript>
<main>
<section class="wide" id="cameras-section">
  <h2>Cameras</h2>
  <div id="cameras">{{!parts["cameras"]}}</div>
  <div class="views">
  % for v in views:
    <figure>
      % if v.has_view:
      <img class="view" data-src="/console/cameras/{{v.index}}/view.jpg" data-index="{{v.index}}"
           data-shown="{{v.frames_processed}}" src="/console/cameras/{{v.index}}/view.jpg"
           alt="newest frame of camera {{v.id}}">
      % else:
      <img class="view" data-src="/console/cameras/{{v.index}}/view.jpg" data-index="{{v.index}}"
           alt="newest frame of camera {{v.id}}" hidden>
      % end
      <p class="noview muted" {{"hidden" if v.has_view else ""}}>No frame recognised yet.</p>
      <figcaption>{{v.id}}</figcaption>
    </figure>
  % end
  </div>
</section>
<section class="wide" id="delivery-section">
  <h2>Delivery</h2>
  <div id="health">{{!parts["health"]}}</div>
</section>
<section class="wide scripted" id="try">
  <h2>Try a photo</h2>
  <form id="photo" class="inline" data-max-bytes="{{photo["max_bytes"]}}">
    <label>Photo <input type="file" name="upload" accept="image/*" required></label>
    <label>Regions <input name="regions" maxlength="200" size="10" placeholder="e.g. ro, fr"
      title="Region codes, comma separated, as the API's regions (optional)"></label>
    <button type="submit" disabled>Read</button>
  </form>
  <p class="muted note">Choose or drop a picture of a car (up to {{photo["max_mib"]}} MiB) to see what the device reads. It is read through <code>POST /v1/plate-reader/</code> like any API client's photo, as camera <code>console</code>: it counts as an API call{{photo["also"]}}.</p>
  <p id="photo-status" role="status"></p>
  <div id="photo-result" class="photo" hidden>
    <canvas id="photo-canvas" aria-label="the photo with the plates found"></canvas>
    <div>
      <p id="photo-summary"></p>
      <table class="cards" id="photo-plates">
        <thead><tr><th>Plate</th><th class="num">Score</th><th>Region</th><th>Vehicle</th><th>Watch list</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </div>
</section>
<section class="wide">
  <h2>Events</h2>
  % if history:  # without a history a search finds nothing and the CSV link answers 404
  <form method="get" action="/" class="search" id="search">
  % f, bad = search.shown, search.invalid
    <label>Plate <input name="plate" value="{{f["plate"]}}" maxlength="64" size="10"{{!bad("plate")}}></label>
    <label>Distance <input name="distance" value="{{f["distance"]}}" type="number" min="0" max="3" step="0.5" placeholder="1"{{!bad("distance")}}></label>
    <label>Camera <input name="camera" value="{{f["camera"]}}" maxlength="64" size="8" list="camera-ids"{{!bad("camera")}}></label>
    <datalist id="camera-ids">
    % for v in views:
      <option value="{{v.id}}">
    % end
    </datalist>
    % for name in ("since", "until"):
    <label>{{name.capitalize()}} <span class="zone">(UTC)</span> <input name="{{name}}" value="{{f[name]}}" size="19" maxlength="64" placeholder="{{BOX_FORMAT}}" title="{{BOX_FORMAT}}, 24-hour clock; seconds optional" autocomplete="off" spellcheck="false" data-zone="utc"{{!bad(name)}}></label>
    % end
    <label>List <input name="list" value="{{f["list"]}}" maxlength="32" size="6"{{!bad("list")}}></label>
    <button type="submit">Search</button> <a href="/">Clear</a> <a href="{{csv_url}}">CSV</a>
  </form>
  % if search.error:
  <p class="bad" id="search-error" role="alert">{{search.error}}</p>
  % end
  % end
  <div id="events">{{!parts["events"]}}</div>
</section>
<section>
  <h2>Watch lists</h2>
  <div id="lists">{{!parts["lists"]}}</div>
</section>
<section id="counters-section">
  <h2>Counters</h2>
  <div id="counters">{{!parts["counters"]}}</div>
</section>
</main>
<dialog id="scene" aria-labelledby="scene-title">
  <div class="scene">
    <div class="scene-head">
      <h2 id="scene-title">Scene</h2>
      <button type="button" id="scene-close" autofocus>Close</button>
    </div>
    <div class="scene-frame"><img id="scene-image" alt=""><div id="scene-box" hidden></div></div>
    <p class="scene-foot"><img id="scene-crop" class="crop" alt=""> <a id="scene-open" href="/" target="_blank" rel="noopener">Open the picture in a new tab</a></p>
  </div>
</dialog>
</body>
</html>
