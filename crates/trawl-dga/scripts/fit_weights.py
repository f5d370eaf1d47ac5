"""Fits the logistic weights of src/score.rs on the CSV written by
`cargo run -p trawl-dga --example dump-features`. Plain gradient descent, no
numpy needed. Prints the weights and precision/recall at several thresholds."""
import csv, math, sys
rows=list(csv.reader(open(sys.argv[1] if len(sys.argv) > 1 else '/tmp/features.csv')))
X=[];Y=[]
def feats(r):
    lp=float(r[2]); n=int(r[3]); ent=float(r[4]); cr=int(r[5]); dr=float(r[6]); ds=int(r[7]); vr=float(r[8])
    exp=min(math.log2(max(n,1)),4.2)
    mixed = 0<dr<1
    return [-lp-3.9, n-11, ent-0.78*exp, cr-3.5, dr if mixed else 0, (ds-1.5) if mixed else 0, vr-0.35]
for r in rows:
    X.append(feats(r)); Y.append(0 if r[0]=='benign' else 1)
k=len(X[0]); w=[0.0]*k; b=0.0
lr=0.05; lam=1e-3
for it in range(3000):
    gw=[0.0]*k; gb=0.0
    for x,y in zip(X,Y):
        z=b+sum(wi*xi for wi,xi in zip(w,x)); p=1/(1+math.exp(-max(-30,min(30,z))))
        e=p-y
        for i in range(k): gw[i]+=e*x[i]
        gb+=e
    n=len(X)
    for i in range(k): w[i]-=lr*(gw[i]/n+lam*w[i])
    b-=lr*gb/n
    if it%500==0: print(it,[round(v,3) for v in w],round(b,3))
print('w',[round(v,3) for v in w],'b',round(b,3))
for thr in [0.3,0.5,0.7,0.8,0.9]:
    tp=fp=fn=tn=0
    for x,y in zip(X,Y):
        z=b+sum(wi*xi for wi,xi in zip(w,x)); p=1/(1+math.exp(-max(-30,min(30,z))))
        if p>=thr:
            if y: tp+=1
            else: fp+=1
        else:
            if y: fn+=1
            else: tn+=1
    print(thr,'prec',tp/(tp+fp),'rec',tp/(tp+fn),'fpr',fp/(fp+tn))
