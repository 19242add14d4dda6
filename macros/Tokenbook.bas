' tokenbook のボタン。各ボタンは Python の tokenbook.excel.button を呼ぶだけで、
' 確認ダイアログ、進み具合の表示、結果のメッセージは Python 側が出します。
Option Explicit

Public Sub CheckInput()
    RunPython "import tokenbook.excel as x; x.button('check')"
End Sub

Public Sub WeeklyAllocate()
    RunPython "import tokenbook.excel as x; x.button('allocate')"
End Sub

Public Sub ConfirmShipment()
    RunPython "import tokenbook.excel as x; x.button('confirm')"
End Sub

Public Sub MakeMonthlyReports()
    RunPython "import tokenbook.excel as x; x.button('report')"
End Sub

Public Sub SendMonthlyReports()
    RunPython "import tokenbook.excel as x; x.button('send')"
End Sub

Public Sub ReceiveIbCards()
    RunPython "import tokenbook.excel as x; x.button('cards')"
End Sub

Public Sub RefreshWorkList()
    RunPython "import tokenbook.excel as x; x.button('worklist')"
End Sub

Public Sub MarkCenterSent()
    RunPython "import tokenbook.excel as x; x.button('center')"
End Sub

Public Sub TakeStock()
    RunPython "import tokenbook.excel as x; x.button('stocktake')"
End Sub
