"""unlearning/methods"""
