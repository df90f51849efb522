"""Every command of `scorehmr-ros`: demo, process, fit, train, bench, engines, models, sim."""
