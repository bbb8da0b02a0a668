#!/usr/bin/env bash
# One shard of MEMIT covariance statistics per Slurm array task. Submit with
#   sbatch --array=0-15 docs/slurm-stats.sh
# then merge on any machine (docs/cluster-statistics.md). Adjust the paths and the layers.
#SBATCH --job-name=engram-stats
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=04:00:00
#SBATCH --output=stats/%x-%a.log
set -euo pipefail
MODEL=${MODEL:-/models/Meta-Llama-3-8B}
CORPUS=${CORPUS:-/data/wikipedia-100k.jsonl}
LAYERS=${LAYERS:-4,5,6,7,8}
DOCS=${DOCS:-100000}
N=${SLURM_ARRAY_TASK_COUNT:?run as an array job (sbatch --array=0-N-1)}
I=${SLURM_ARRAY_TASK_ID:?}
mkdir -p stats
engram-cli stats --model "$MODEL" --corpus "$CORPUS" --layers "$LAYERS" --max-docs "$DOCS" \
  --shard "$I/$N" --device cuda --dtype bf16 --out "stats/shard-$I.safetensors"
