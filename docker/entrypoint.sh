#!/bin/sh
# The image's entry point. SageMaker starts containers as `docker run <image> serve`
# (endpoints) and `docker run <image> train` (training jobs); Kubernetes runs `serve`.
#   serve [options]  the inference server (`mlops serve`; options as `mlops serve --help`)
#   train            the SageMaker training entry point (`python -m ml.training`)
#   anything else    run as a command, e.g. `mlops verify ...` or `sh`
set -eu

command="${1:-serve}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$command" in
    serve) exec mlops serve "$@" ;;
    train) exec python -m ml.training "$@" ;;
    *) exec "$command" "$@" ;;
esac
