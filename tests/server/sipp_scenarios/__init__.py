"""sipp scenarios (XML text) built per test, one module a kind.

- :mod:`sipp_scenarios.parts`: what every scenario is made of (its head and
  end, receptions that check what came, answers, kept headers);
- :mod:`sipp_scenarios.uac`: sipp as the caller;
- :mod:`sipp_scenarios.uas`: sipp as the callee;
- :mod:`sipp_scenarios.early`: early dialogs and the UPDATEs in them;
- :mod:`sipp_scenarios.prack`: reliable provisional responses and PRACK;
- :mod:`sipp_scenarios.proxy`: either side of a call the server proxies;
- :mod:`sipp_scenarios.subscriptions`: subscribers and notifiers.

The harness (``server_harness``) runs them: ``sipp_uac`` and ``sipp_uas``.
"""
