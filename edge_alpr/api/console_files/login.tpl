<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-alpr console: log in</title>
<link rel="stylesheet" href="/console/static/console.css">
<link rel="icon" href="/console/static/icon.svg" type="image/svg+xml">
</head>
<body class="login">
<form method="post" action="/login">
  <h1>edge-alpr</h1>
  <p>This device needs its API token (<code>EDGE_ALPR_API_TOKEN</code> or the systemd credential
  <code>api_token</code>).</p>
  % if message:
  <p class="bad" id="login-error">{{message}}</p>
  % end
  <label>Token <input name="token" type="password" autocomplete="current-password" required autofocus></label>
  <button type="submit">Log in</button>
</form>
</body>
</html>
