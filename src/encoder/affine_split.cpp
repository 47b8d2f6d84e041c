#include "encoder/affine_split.h"
#include "encoder/gemm.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>


#include <algorithm>
#include <sstream>
#include <vector>

namespace relgeo::internal {
namespace {

using torch::jit::Node;
using torch::jit::Value;
namespace prim = c10::prim;
namespace aten = c10::aten;

// A value that `v` always holds: a chain of prim::GetAttr from the module's self, or a
// graph constant. nullopt for anything computed.
std::optional<c10::IValue> ResolveAttr(Value* v, Value* self, const torch::jit::Module& module) {
  std::vector<std::string> path;
  while (v->node()->kind() == prim::GetAttr) {
    path.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (v == self) {
    c10::IValue cur = module._ivalue();
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      if (!cur.isObject()) return std::nullopt;
      auto obj = cur.toObject();
      if (!obj->type()->hasAttribute(*it)) return std::nullopt;
      cur = obj->getAttr(*it);
    }
    return cur;
  }
  if (!path.empty()) return std::nullopt;
  return torch::jit::toIValue(v);
}

std::optional<torch::Tensor> ResolveTensor(Value* v, Value* self, const torch::jit::Module& module) {
  auto iv = ResolveAttr(v, self, module);
  if (iv && iv->isTensor()) return iv->toTensor();
  return std::nullopt;
}

bool IsNone(Value* v) {
  auto iv = torch::jit::toIValue(v);
  return iv && iv->isNone();
}

bool IsConstantInt(Value* v, int64_t want) {
  auto iv = torch::jit::toIValue(v);
  return iv && ((iv->isInt() && iv->toInt() == want) || (iv->isDouble() && iv->toDouble() == double(want)));
}

// A constant int list (or a single int, broadcast by the caller), directly or built by
// prim::ListConstruct from constants.
std::optional<std::vector<int64_t>> IntListOf(Value* v) {
  if (auto iv = torch::jit::toIValue(v)) {
    if (iv->isIntList()) return iv->toIntVector();
    if (iv->isInt()) return std::vector<int64_t>{iv->toInt()};
    return std::nullopt;
  }
  if (v->node()->kind() == prim::ListConstruct) {
    std::vector<int64_t> out;
    for (Value* e : v->node()->inputs()) {
      auto iv = torch::jit::toIValue(e);
      if (!iv || !iv->isInt()) return std::nullopt;
      out.push_back(iv->toInt());
    }
    return out;
  }
  return std::nullopt;
}

// A constant int list, or a list built from int attributes of the module ([self.dim]).
std::optional<std::vector<int64_t>> ResolveIntList(Value* v, Value* self, const torch::jit::Module& module) {
  if (auto l = IntListOf(v)) return l;
  if (v->node()->kind() != prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> out;
  for (Value* e : v->node()->inputs()) {
    auto iv = ResolveAttr(e, self, module);
    if (!iv || !iv->isInt()) return std::nullopt;
    out.push_back(iv->toInt());
  }
  return out;
}

// A reshape's shape: constants, where the first entry may also be x.size(0) (the
// batch size, returned as -1).
std::optional<std::vector<int64_t>> ShapeWithBatch(Value* v) {
  if (v->node()->kind() != prim::ListConstruct || v->node()->inputs().empty()) return IntListOf(v);
  std::vector<int64_t> out;
  for (Value* e : v->node()->inputs()) {
    Node* p = e->node();
    if (out.empty() && p->kind() == aten::size && p->inputs().size() == 2 && IsConstantInt(p->input(1), 0)) {
      out.push_back(-1);
      continue;
    }
    auto iv = torch::jit::toIValue(e);
    if (!iv || !iv->isInt()) return std::nullopt;
    out.push_back(iv->toInt());
  }
  return out;
}

// Both entries equal (or a single entry): that value.
std::optional<int64_t> Symmetric(Value* v) {
  auto l = IntListOf(v);
  if (!l || l->empty() || l->size() > 2 || (l->size() == 2 && (*l)[0] != (*l)[1])) return std::nullopt;
  return (*l)[0];
}

bool IsFloat2D(const torch::Tensor& t) { return t.defined() && t.dim() == 2 && t.is_floating_point(); }

// The right factor of x @ R as the layer's weight W (out x in): R = aten::t(W),
// aten::transpose(W, 0, 1) or a held matrix M (then W = M^T).
std::optional<torch::Tensor> WeightOfRightFactor(Value* rhs, Value* self, const torch::jit::Module& module) {
  Node* n = rhs->node();
  const bool transposed =
      (n->kind() == aten::t && n->inputs().size() == 1) ||
      (n->kind() == aten::transpose && n->inputs().size() == 3 &&
       ((IsConstantInt(n->input(1), 0) && IsConstantInt(n->input(2), 1)) ||
        (IsConstantInt(n->input(1), 1) && IsConstantInt(n->input(2), 0))));
  auto t = ResolveTensor(transposed ? n->input(0) : rhs, self, module);
  if (!t || !IsFloat2D(*t)) return std::nullopt;
  return transposed ? *t : t->t();
}

// aten::addmm(b, x, R, beta, alpha) with beta = alpha = 1: x @ R + b.
bool IsPlainAddmm(Node* n) {
  return n->kind() == aten::addmm && n->inputs().size() == 5 && IsConstantInt(n->input(3), 1) &&
         IsConstantInt(n->input(4), 1);
}

// A bias for an `out`-wide layer: 1-D, or 1 x out.
bool IsBiasFor(const torch::Tensor& b, int64_t out) {
  return b.is_floating_point() && b.numel() == out && (b.dim() == 1 || (b.dim() == 2 && b.size(0) == 1));
}

}  // namespace

torch::Tensor AffineSplit::Pre(const torch::Tensor& x) const {
  const torch::Tensor in = normalized ? torch::layer_norm(x, {in_dim()}, {}, {}, eps) : x;
  if (bias.defined()) return torch::addmm(bias, in, weight_t);
  return torch::mm(in, weight_t);
}

torch::Tensor AffineSplit::Centred(const torch::Tensor& x) const {
  return (x - x.mean(1, true)) / std::sqrt(static_cast<double>(in_dim()));
}

torch::Tensor AffineSplit::Sigma(const torch::Tensor& centred) const {
  return (centred.square().sum(1) + eps).sqrt();
}

torch::jit::IValue AffineSplit::Rest(const torch::Tensor& pre) const {
  torch::jit::Stack stack{module._ivalue(), pre};
  rest->run(stack);
  return stack.back();
}

std::optional<AffineSplit> DetectAffineSplit(const torch::jit::Module& module) {
  try {
    if (!module.find_method("forward")) return std::nullopt;
    auto graph = module.get_method("forward").graph()->copy();
    torch::jit::Inline(*graph);
    if (graph->inputs().size() != 2 || graph->outputs().size() != 1) return std::nullopt;
    Value* self = graph->inputs()[0];
    Value* x = graph->inputs()[1];
    if (x->uses().size() != 1) return std::nullopt;
    // The first layer's input: x, or a LayerNorm of x over the features.
    Value* in = x;
    Node* first = x->uses()[0].user;
    std::optional<torch::Tensor> ln_gamma, ln_beta;
    std::optional<double> ln_eps;
    std::optional<std::vector<int64_t>> ln_shape;
    if (first->kind() == aten::layer_norm && first->inputs().size() == 6 && x->uses()[0].offset == 0) {
      ln_shape = ResolveIntList(first->input(1), self, module);
      auto eps = torch::jit::toIValue(first->input(4));
      if (!ln_shape || ln_shape->size() != 1 || !eps || !eps->isDouble()) return std::nullopt;
      ln_eps = eps->toDouble();
      for (auto [v, out] : {std::pair{first->input(2), &ln_gamma}, std::pair{first->input(3), &ln_beta}}) {
        if (IsNone(v)) continue;
        *out = ResolveTensor(v, self, module);
        if (!*out || (*out)->dim() != 1 || (*out)->numel() != (*ln_shape)[0]) return std::nullopt;
      }
      in = first->output();
      if (in->uses().size() != 1) return std::nullopt;
      first = in->uses()[0].user;
    }
    // The input is the first argument, or addmm's second (addmm(b, x, W^T), how relgeo's
    // own autoencoders and torch.nn.Linear traced on 2-D inputs are written).
    if (in->uses()[0].offset != (first->kind() == aten::addmm ? 1 : 0)) return std::nullopt;

    torch::Tensor w;  // h x d
    torch::Tensor b;
    Value* pre = nullptr;
    std::string what;
    if (first->kind() == aten::linear && first->inputs().size() == 3) {
      auto wt = ResolveTensor(first->input(1), self, module);
      if (!wt || !IsFloat2D(*wt)) return std::nullopt;
      w = *wt;
      if (!IsNone(first->input(2))) {
        auto bt = ResolveTensor(first->input(2), self, module);
        if (!bt) return std::nullopt;
        b = *bt;
      }
      pre = first->output();
      what = "aten::linear";
    } else if (IsPlainAddmm(first)) {
      auto wt = WeightOfRightFactor(first->input(2), self, module);
      auto bt = ResolveTensor(first->input(0), self, module);
      if (!wt || !bt || !IsBiasFor(*bt, wt->size(0))) return std::nullopt;
      w = *wt;
      b = *bt;
      pre = first->output();
      what = "aten::addmm";
    } else if ((first->kind() == aten::matmul || first->kind() == aten::mm) && first->inputs().size() == 2) {
      auto wt = WeightOfRightFactor(first->input(1), self, module);
      if (!wt) return std::nullopt;
      w = *wt;  // W (h x d), used as W^T
      pre = first->output();
      what = first->kind() == aten::mm ? "aten::mm" : "aten::matmul";
      // An optional bias add that is the product's only use.
      if (pre->uses().size() == 1) {
        Node* add = pre->uses()[0].user;
        if (add->kind() == aten::add && add->inputs().size() == 3 && IsConstantInt(add->input(2), 1)) {
          Value* other = add->input(0) == pre ? add->input(1) : add->input(0);
          if (other != pre) {
            auto bt = ResolveTensor(other, self, module);
            if (bt && IsBiasFor(*bt, w.size(0))) {
              b = *bt;
              pre = add->output();
              what += "+add";
            }
          }
        }
      }
    } else {
      return std::nullopt;
    }
    if (b.defined() && (b.numel() != w.size(0) || !b.is_floating_point())) return std::nullopt;
    if (b.defined() && b.dim() == 2 && b.size(0) != 1) return std::nullopt;
    if (ln_eps) {
      // LN(x) W^T + b = LN0(x) (W diag(gamma))^T + (b + W beta), LN0 without gamma, beta.
      if ((*ln_shape)[0] != w.size(1)) return std::nullopt;
      w = w.detach().to(torch::kFloat32);
      torch::Tensor bias = b.defined() ? b.detach().to(torch::kFloat32).reshape({-1}) : torch::zeros({w.size(0)}, w.options());
      if (ln_beta) bias = bias + torch::mv(w, ln_beta->detach().to(torch::kFloat32));
      if (ln_gamma) w = w * ln_gamma->detach().to(torch::kFloat32).unsqueeze(0);
      b = bias;
      what = "aten::layer_norm+" + what;
    }

    // The rest: the same graph with `pre` as a new input and the first layer gone.
    Value* hidden = graph->addInput("pre");
    hidden->setType(c10::TensorType::get());
    pre->replaceAllUsesWith(hidden);
    torch::jit::EliminateDeadCode(graph);
    if (!x->uses().empty()) return std::nullopt;
    graph->eraseInput(1);

    AffineSplit s;
    s.weight_t = w.detach().to(torch::kFloat32).t().contiguous();
    if (b.defined()) s.bias = b.detach().to(torch::kFloat32).reshape({-1}).contiguous();
    s.normalized = ln_eps.has_value();
    s.eps = ln_eps.value_or(0.0);
    s.module = module;
    s.rest = std::make_shared<torch::jit::GraphFunction>("relgeo_forward_from_pre", graph, nullptr);
    std::ostringstream d;
    d << what << " " << w.size(1) << "->" << w.size(0);
    s.description = d.str();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<NativeRest> DetectNativeRest(const AffineSplit& split) {
  try {
    // Constant propagation folds what scripted torch.nn modules compute from constants
    // (ConvTranspose2d's output_padding logic, shape lists).
    auto graph = split.rest->graph()->copy();
    torch::jit::ConstantPropagation(graph);
    torch::jit::EliminateDeadCode(graph);
    if (graph->inputs().size() != 2 || graph->outputs().size() != 1) return std::nullopt;
    Value* self = graph->inputs()[0];
    Value* cur = graph->inputs()[1];
    NativeRest nr;
    int64_t width = split.hidden_dim();
    int64_t img_c = 0, img_h = 0, img_w = 0;  // set while rows hold images (NCHW)
    nr.plan.sgemm = &OneDnnSgemm;
    nr.plan.bgemm = OneDnnBf16Gemm();
    std::ostringstream desc;
    bool bias_open = false;  // the last layer came from a matmul and may take an add
    auto add_layer = [&](const torch::Tensor& w /* out x in */, const torch::Tensor& b) {
      MlpPlan::Layer L;
      L.in = w.size(1);
      L.out = w.size(0);
      if (L.in != width) throw std::runtime_error("layer width mismatch");
      width = L.out;
      torch::Tensor wt = w.detach().to(torch::kCPU, torch::kFloat32).t().contiguous();
      nr.keep.push_back(wt);
      L.wt = wt.data_ptr<float>();
      torch::Tensor wb = wt.to(torch::kBFloat16).contiguous();
      nr.keep.push_back(wb);
      L.wt_bf16 = reinterpret_cast<const uint16_t*>(wb.data_ptr());
      if (b.defined()) {
        torch::Tensor bb = b.detach().to(torch::kCPU, torch::kFloat32).reshape({-1}).contiguous();
        nr.keep.push_back(bb);
        L.bias = bb.data_ptr<float>();
      }
      nr.plan.layers.push_back(L);
      desc << " linear " << L.in << "->" << L.out;
    };
    for (Node* n : graph->nodes()) {
      const auto k = n->kind();
      if (k == prim::GetAttr || k == prim::Constant || k == prim::ListConstruct) continue;
      if (k == aten::t && n->inputs().size() == 1) continue;  // consumed by a matmul below
      // x.size(0): the batch size in a reshape's shape list (checked there).
      if (k == aten::size && n->inputs().size() == 2 && IsConstantInt(n->input(1), 0)) continue;
      Value* data = IsPlainAddmm(n) ? n->input(1) : n->inputs().empty() ? nullptr : n->input(0);
      if (data != cur) return std::nullopt;
      if (img_c > 0 && (k == aten::linear || k == aten::matmul || k == aten::mm || k == aten::addmm)) return std::nullopt;
      if ((k == aten::view || k == aten::reshape) && n->inputs().size() == 2) {
        auto shape = ShapeWithBatch(n->input(1));
        if (!shape || shape->size() < 2 || (*shape)[0] != -1) return std::nullopt;
        int64_t prod = 1;
        for (size_t i = 1; i < shape->size(); ++i) prod *= (*shape)[i];
        if (prod != width || (shape->size() != 2 && shape->size() != 4)) return std::nullopt;
        if (shape->size() == 4) {
          img_c = (*shape)[1], img_h = (*shape)[2], img_w = (*shape)[3];
        } else {
          img_c = img_h = img_w = 0;
        }
        bias_open = false;
      } else if (k == aten::unflatten && n->inputs().size() == 3) {
        auto dim = torch::jit::toIValue(n->input(1));
        auto sizes = IntListOf(n->input(2));
        if (!dim || !dim->isInt() || dim->toInt() != 1 || !sizes || sizes->size() != 3) return std::nullopt;
        if ((*sizes)[0] * (*sizes)[1] * (*sizes)[2] != width) return std::nullopt;
        img_c = (*sizes)[0], img_h = (*sizes)[1], img_w = (*sizes)[2];
        bias_open = false;
      } else if (k == aten::flatten && n->inputs().size() == 3) {
        auto a = torch::jit::toIValue(n->input(1)), b = torch::jit::toIValue(n->input(2));
        if (!a || !b || !a->isInt() || !b->isInt() || a->toInt() != 1 || b->toInt() != -1) return std::nullopt;
        img_c = img_h = img_w = 0;
        bias_open = false;
      } else if (k == aten::conv_transpose2d && n->inputs().size() == 8) {
        if (img_c <= 0) return std::nullopt;
        auto w = ResolveTensor(n->input(1), self, split.module);
        if (!w || w->dim() != 4 || !w->is_floating_point() || w->size(0) != img_c || w->size(2) != w->size(3))
          return std::nullopt;
        auto stride = Symmetric(n->input(3)), pad = Symmetric(n->input(4)), opad = Symmetric(n->input(5));
        auto groups = torch::jit::toIValue(n->input(6));
        auto dil = Symmetric(n->input(7));
        if (!stride || !pad || !opad || !groups || !groups->isInt() || groups->toInt() != 1 || !dil || *dil != 1)
          return std::nullopt;
        MlpPlan::Layer L;
        L.kind = MlpPlan::Layer::kConvTranspose;
        L.cin = img_c, L.hin = img_h, L.win = img_w, L.cout = w->size(1), L.k = w->size(2);
        L.stride = *stride, L.pad = *pad;
        L.hout = (img_h - 1) * L.stride - 2 * L.pad + L.k + *opad;
        L.wout = (img_w - 1) * L.stride - 2 * L.pad + L.k + *opad;
        if (L.hout <= 0 || L.wout <= 0 || *opad < 0 || L.pad < 0 || L.stride < 1) return std::nullopt;
        L.in = width;
        L.out = L.cout * L.hout * L.wout;
        L.scratch = img_h * img_w * (L.cin + L.cout * L.k * L.k);
        torch::Tensor wt = w->detach().to(torch::kCPU, torch::kFloat32).contiguous().reshape({L.cin, -1}).t().contiguous();
        nr.keep.push_back(wt);
        L.wt = wt.data_ptr<float>();
        torch::Tensor wb = wt.to(torch::kBFloat16).contiguous();
        nr.keep.push_back(wb);
        L.wt_bf16 = reinterpret_cast<const uint16_t*>(wb.data_ptr());
        if (!IsNone(n->input(2))) {
          auto b = ResolveTensor(n->input(2), self, split.module);
          if (!b || b->numel() != L.cout) return std::nullopt;
          torch::Tensor bb = b->detach().to(torch::kCPU, torch::kFloat32).reshape({L.cout, 1})
                                 .expand({L.cout, L.hout * L.wout}).contiguous().reshape({-1});
          nr.keep.push_back(bb);
          L.bias = bb.data_ptr<float>();
        }
        nr.plan.layers.push_back(L);
        desc << " conv_transpose2d " << L.cin << "x" << L.hin << "x" << L.win << "->" << L.cout << "x" << L.hout << "x"
             << L.wout;
        img_c = L.cout, img_h = L.hout, img_w = L.wout;
        width = L.out;
        bias_open = false;
      } else if (k == aten::linear && n->inputs().size() == 3) {
        auto w = ResolveTensor(n->input(1), self, split.module);
        if (!w || !IsFloat2D(*w)) return std::nullopt;
        torch::Tensor b;
        if (!IsNone(n->input(2))) {
          auto bt = ResolveTensor(n->input(2), self, split.module);
          if (!bt || bt->numel() != w->size(0)) return std::nullopt;
          b = *bt;
        }
        add_layer(*w, b);
        bias_open = false;
      } else if (IsPlainAddmm(n)) {
        auto w = WeightOfRightFactor(n->input(2), self, split.module);
        auto b = ResolveTensor(n->input(0), self, split.module);
        if (!w || !b || !IsBiasFor(*b, w->size(0))) return std::nullopt;
        add_layer(*w, *b);
        bias_open = false;
      } else if ((k == aten::matmul || k == aten::mm) && n->inputs().size() == 2) {
        auto w = WeightOfRightFactor(n->input(1), self, split.module);
        if (!w) return std::nullopt;
        add_layer(*w, torch::Tensor());
        bias_open = true;
      } else if (k == aten::add && n->inputs().size() == 3 && bias_open && IsConstantInt(n->input(2), 1)) {
        auto bt = ResolveTensor(n->input(1), self, split.module);
        MlpPlan::Layer& L = nr.plan.layers.back();
        if (!bt || !bt->is_floating_point() || bt->numel() != L.out || (bt->dim() == 2 && bt->size(0) != 1) || bt->dim() > 2)
          return std::nullopt;
        torch::Tensor bb = bt->detach().to(torch::kCPU, torch::kFloat32).reshape({-1}).contiguous();
        nr.keep.push_back(bb);
        L.bias = bb.data_ptr<float>();
        bias_open = false;
      } else if (n->inputs().size() == 1 &&
                 (k == aten::relu || k == aten::relu_ || k == aten::sigmoid || k == aten::sigmoid_ ||
                  k == aten::tanh || k == aten::tanh_)) {
        const Act a = (k == aten::relu || k == aten::relu_) ? Act::kRelu
                      : (k == aten::sigmoid || k == aten::sigmoid_) ? Act::kSigmoid
                                                                    : Act::kTanh;
        (nr.plan.layers.empty() ? nr.plan.lead : nr.plan.layers.back().acts).push_back(a);
        desc << (a == Act::kRelu ? " relu" : a == Act::kSigmoid ? " sigmoid" : " tanh");
        bias_open = false;
      } else {
        return std::nullopt;
      }
      if (n->outputs().size() != 1) return std::nullopt;
      cur = n->output();
    }
    if (graph->outputs()[0] != cur) return std::nullopt;
    int64_t w_in = split.hidden_dim();
    nr.plan.in_dim = w_in;
    nr.plan.max_width = w_in;
    for (const auto& L : nr.plan.layers) {
      if (L.in != w_in) return std::nullopt;
      w_in = L.out;
      nr.plan.max_width = std::max(nr.plan.max_width, w_in);
      nr.plan.max_scratch = std::max(nr.plan.max_scratch, L.scratch);
    }
    nr.plan.out_dim = w_in;
    nr.description = desc.str();
    return nr;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace relgeo::internal
