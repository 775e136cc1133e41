from django import template

from common.admin import dashboard_links_for

register = template.Library()


@register.simple_tag(takes_context=True)
def dashboard_links(context):
    request = context.get("request")
    return dashboard_links_for(request.user) if request is not None else []
