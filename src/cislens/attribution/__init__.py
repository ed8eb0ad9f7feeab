"""Attribution methods: which bases of an input drive a model's prediction (see METHODS)."""
