"""The views: what inframock shows of its models (loads, the banner, status).

Views are pure: data in, text out. They import the models they render and
read no file and ask no service; the caller (a road, a feature, a service's
declaration) collects the facts and passes them in. Models and features never
import views back, except the entry points that decide to show something.
"""
