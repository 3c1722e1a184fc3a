"""Training: fine-tuning, MLM + SOP pretraining and knowledge distillation."""
