"""Reference solution: rnn_params (instructor only)."""

ASSIGNMENT = "rnn_params"

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def rnn_param_count(cell, input_size, hidden_size, num_layers=1, bidirectional=False):
    gates = GATES[cell]
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size * dirs
        per_direction = gates * (hidden_size * layer_input + hidden_size * hidden_size + 2 * hidden_size)
        total += dirs * per_direction
    return total


def rnn_classifier_param_count(cell, vocab_size, embed_dim, hidden_size, num_layers, bidirectional,
                               num_classes):
    dirs = 2 if bidirectional else 1
    embedding = vocab_size * embed_dim
    rnn = rnn_param_count(cell, embed_dim, hidden_size, num_layers, bidirectional)
    head = hidden_size * dirs * num_classes + num_classes
    return embedding + rnn + head


def rnn_output_shapes(cell, batch_size, seq_len, input_size, hidden_size, num_layers, bidirectional):
    dirs = 2 if bidirectional else 1
    state = [num_layers * dirs, batch_size, hidden_size]
    return {
        "outputs": [batch_size, seq_len, hidden_size * dirs],
        "h": state,
        "c": list(state) if cell == "lstm" else None,
    }


def rnn_param_shapes(cell, input_size, hidden_size, num_layers, bidirectional):
    rows = GATES[cell] * hidden_size
    suffixes = ["", "_reverse"] if bidirectional else [""]
    shapes = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size * len(suffixes)
        for suffix in suffixes:
            shapes["weight_ih_l%d%s" % (layer, suffix)] = [rows, layer_input]
            shapes["weight_hh_l%d%s" % (layer, suffix)] = [rows, hidden_size]
            shapes["bias_ih_l%d%s" % (layer, suffix)] = [rows]
            shapes["bias_hh_l%d%s" % (layer, suffix)] = [rows]
    return shapes
