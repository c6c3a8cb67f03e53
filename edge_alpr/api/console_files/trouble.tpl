% if not items:
<p class="trouble ok" data-title="{{title}}">Nothing needs attention.</p>
% else:
<p class="trouble bad" data-title="{{title}}"><strong>Needs attention:</strong>
% for i, t in enumerate(items):
<a href="#{{t.part}}">{{t.text}}</a>{{"," if i < len(items) - 1 else ""}}
% end
</p>
% end
