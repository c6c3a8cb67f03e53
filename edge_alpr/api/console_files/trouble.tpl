% if not items:
<p class="trouble ok" data-title="{{title}}">Nothing needs attention.</p>
% else:
<p class="trouble bad" data-title="{{title}}"><strong>Needs attention:</strong>
% for i, t in enumerate(items):
% if t.at:
<a href="#{{t.part}}" data-key="{{t.key}}" title="{{t.detail}}">{{t.text}} (last {{!when(t.at)}}){{f": {t.note}" if t.note else ""}}</a>{{"," if i < len(items) - 1 else ""}}
% else:
<a href="#{{t.part}}" data-key="{{t.key}}">{{t.text}}</a>{{"," if i < len(items) - 1 else ""}}
% end
% end
</p>
% end
