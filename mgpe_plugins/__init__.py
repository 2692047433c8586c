"""The built-in plugins: operations (``ops/``), command plugins and the built-in models."""

#: The built-in plugins (module names), in load order: the core loads them exactly like entry
#: points (mgpe_core.plugins). Operations appear in this order in `mgpe edit --help`, in
#: `mgpe eval`'s report and in `mgpe demo`'s figures.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "mgpe_plugins.builtin_models",
    "mgpe_plugins.data_commands",
    "mgpe_plugins.train_commands",
    "mgpe_plugins.parse_command",
    "mgpe_plugins.demo_command",
    "mgpe_plugins.fid_command",
    "mgpe_plugins.eval_command",
    "mgpe_plugins.faces_command",
    "mgpe_plugins.align_command",
    "mgpe_plugins.serve",
    "mgpe_plugins.ops.mask_to_face",
    "mgpe_plugins.ops.swap",
    "mgpe_plugins.ops.bangs",
    "mgpe_plugins.ops.edit_mask",
    "mgpe_plugins.ops.style",
)
