"""Attribution methods: which bases of an input drive a model's prediction (see METHODS).

Every method is a plain function with one signature::

    method(model, X, *, target=None, batch_size=..., device=None, random_state=None,
           verbose=False, **options) -> Tensor (N, 4, L), float32, on the CPU

==========================  ==================================================================
``ism``                     exact in-silico saturation mutagenesis
``saliency``                input gradient
``grad_x_input``            gradient x input
``integrated_gradients``    integrated gradients / expected gradients
``deeplift``                DeepLIFT (Rescale, RevealCancel) against references
``deeplift_shap``           DeepLIFT over dinucleotide-shuffled references
``gradcam``                 GradCAM at a convolutional layer
``guided_backprop``         guided backpropagation
``guided_gradcam``          guided backprop x GradCAM
==========================  ==================================================================

Diagnostic: :func:`integrated_gradients_path_density` gives the model's predictions at each
alpha of the IG path (default: from dinucleotide shuffles to the inputs).

:data:`METHODS` maps these names to records with capability flags; :func:`resolve_methods`
reads a list of them (names, ``"all"``, a comma list); :func:`attribute` runs one by name and
:func:`attribution_set` packages the result for the attribution store.
"""

# The shared semantics of every method (target, model borrowing), public for GIA and for users
# who write their own methods.
from cislens.attribution._common import (
    Target,
    borrowed_model,
    count_outputs,
    parse_target,
    resolve_target,
)
from cislens.attribution.cost import (
    DEFAULT_MAX_POSITIONS,
    CostEstimate,
    CostLimitError,
    estimate_cost,
)
from cislens.attribution.deeplift_engine import deeplift, deeplift_shap
from cislens.attribution.ensemble import (
    NORMALISATIONS,
    ModelEnsemble,
    attribute_with,
    ensemble_attribution_set,
    ensemble_attributions,
)
from cislens.attribution.gradcam import gradcam
from cislens.attribution.gradients import grad_x_input, saliency
from cislens.attribution.guided import guided_backprop, guided_gradcam
from cislens.attribution.ig_path import IGPathDensity, integrated_gradients_path_density
from cislens.attribution.integrated_gradients import (
    IGCompleteness,
    integrated_gradients,
    integrated_gradients_completeness,
)
from cislens.attribution.ism import ism
from cislens.attribution.registry import (
    METHODS,
    AttributionMethod,
    attribute,
    attribution_set,
    get_method,
    resolve_methods,
)

__all__ = [
    "DEFAULT_MAX_POSITIONS",
    "METHODS",
    "NORMALISATIONS",
    "AttributionMethod",
    "CostEstimate",
    "CostLimitError",
    "IGCompleteness",
    "IGPathDensity",
    "ModelEnsemble",
    "Target",
    "attribute",
    "attribute_with",
    "attribution_set",
    "borrowed_model",
    "count_outputs",
    "deeplift",
    "deeplift_shap",
    "ensemble_attribution_set",
    "ensemble_attributions",
    "estimate_cost",
    "get_method",
    "grad_x_input",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "integrated_gradients",
    "integrated_gradients_completeness",
    "integrated_gradients_path_density",
    "ism",
    "parse_target",
    "resolve_methods",
    "resolve_target",
    "saliency",
]
